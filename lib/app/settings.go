// Package app wires the Lambda functions: settings from the environment
// (read by main and passed in), AWS clients, the store, secrets, the shared
// Marketo budget and the per-account API clients. Handlers stay thin: they
// decode their trigger and call lib/jobs.
package app

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/limit"
)

// Settings are the function's environment, as template.yaml declares it.
type Settings struct {
	Stage          string // STAGE
	ConfigTable    string // CONFIG_TABLE
	StateTable     string // STATE_TABLE
	ChangeQueueURL string // CHANGE_QUEUE_URL (registration-changes, trigger-campaign)
	// WorkQueueURL (WORK_QUEUE_URL) is the function's own work queue: the
	// run messages of a job function, the scope messages of the detector.
	WorkQueueURL   string
	DeadlineMargin time.Duration // DEADLINE_MARGIN, default 30s
	// BudgetMode (MARKETO_BUDGET_MODE): limit.ModeShared ("shared", the
	// default) or limit.ModeInProcess ("in-process", or "local", its old
	// spelling). It decides where both budgets are held: each Marketo
	// instance's and each Certain account's.
	BudgetMode limit.Mode
	// EmitBaseline (DETECTOR_EMIT_BASELINE=true): the detector's first run
	// for an event sends a change for every registration instead of only
	// recording their statuses.
	EmitBaseline bool
	// AlertTopicARN (ALERT_TOPIC_ARN): the operations SNS topic that runs
	// ending failed or partial are notified to; empty: no notices.
	AlertTopicARN string
	// NoticeQuiet (RUN_NOTICE_QUIET, a Go duration, default 6h): a notice
	// like one sent less than this ago is not sent again; 0 sends all.
	NoticeQuiet time.Duration
}

// DefaultNoticeQuiet is RUN_NOTICE_QUIET's default.
const DefaultNoticeQuiet = 6 * time.Hour

// EnvNames lists every environment variable the functions read; the
// template test checks that template.yaml declares each of them (the
// AWS_LAMBDA_* ones are set by Lambda itself).
func EnvNames() []string {
	return []string{"STAGE", "CONFIG_TABLE", "STATE_TABLE", "CHANGE_QUEUE_URL", "WORK_QUEUE_URL", "DEADLINE_MARGIN", "MARKETO_BUDGET_MODE",
		"DETECTOR_EMIT_BASELINE", "ALERT_TOPIC_ARN", "RUN_NOTICE_QUIET"}
}

// SettingsFromEnv reads the settings through lookup (os.LookupEnv in main).
// needQueue says whether CHANGE_QUEUE_URL is required.
func SettingsFromEnv(lookup func(string) (string, bool), needQueue bool) (Settings, error) {
	get := func(k string) string {
		v, _ := lookup(k)
		return strings.TrimSpace(v)
	}
	s := Settings{
		Stage: get("STAGE"), ConfigTable: get("CONFIG_TABLE"), StateTable: get("STATE_TABLE"),
		ChangeQueueURL: get("CHANGE_QUEUE_URL"), WorkQueueURL: get("WORK_QUEUE_URL"), BudgetMode: limit.ModeShared,
		DeadlineMargin: 30 * time.Second, AlertTopicARN: get("ALERT_TOPIC_ARN"), NoticeQuiet: DefaultNoticeQuiet,
	}
	var missing []string
	for k, v := range map[string]string{"CONFIG_TABLE": s.ConfigTable, "STATE_TABLE": s.StateTable} {
		if v == "" {
			missing = append(missing, k)
		}
	}
	if needQueue && s.ChangeQueueURL == "" {
		missing = append(missing, "CHANGE_QUEUE_URL")
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return s, fmt.Errorf("environment: %s not set (template.yaml declares them)", strings.Join(missing, ", "))
	}
	if m := get("DEADLINE_MARGIN"); m != "" {
		d, err := time.ParseDuration(m)
		if err != nil || d < 0 {
			return s, fmt.Errorf("environment: DEADLINE_MARGIN %q is not a non-negative Go duration such as 30s", m)
		}
		s.DeadlineMargin = d
	}
	if s.AlertTopicARN != "" && !strings.HasPrefix(s.AlertTopicARN, "arn:") {
		return s, fmt.Errorf("environment: ALERT_TOPIC_ARN %q is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)", s.AlertTopicARN)
	}
	if q := get("RUN_NOTICE_QUIET"); q != "" {
		d, err := time.ParseDuration(q)
		if err != nil || d < 0 {
			return s, fmt.Errorf("environment: RUN_NOTICE_QUIET %q is not a non-negative Go duration such as 6h", q)
		}
		s.NoticeQuiet = d
	}
	switch b := get("DETECTOR_EMIT_BASELINE"); b {
	case "", "false":
	case "true":
		s.EmitBaseline = true
	default:
		return s, fmt.Errorf("environment: DETECTOR_EMIT_BASELINE %q: want true or false", b)
	}
	if m := get("MARKETO_BUDGET_MODE"); m != "" {
		mode, err := limit.ParseMode(m)
		if err != nil {
			return s, fmt.Errorf("environment: MARKETO_BUDGET_MODE: %w", err)
		}
		s.BudgetMode = mode
	}
	return s, nil
}

// RequireWorkQueue reports a missing WORK_QUEUE_URL (the job functions and
// the detector consume and send to their own work queue).
func (s Settings) RequireWorkQueue() error {
	if s.WorkQueueURL == "" {
		return fmt.Errorf("environment: WORK_QUEUE_URL not set (template.yaml declares it: the function's own work queue)")
	}
	return nil
}
