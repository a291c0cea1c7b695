package app

import (
	"strings"
	"testing"
	"time"

	"github.com/certain-marketo/certain-marketo/lib/limit"
)

func lookup(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestSettingsFromEnv(t *testing.T) {
	base := map[string]string{"CONFIG_TABLE": "c", "STATE_TABLE": "s", "CHANGE_QUEUE_URL": "q"}
	s, err := SettingsFromEnv(lookup(base), true)
	if err != nil || s.BudgetMode != "shared" || s.DeadlineMargin != 30*time.Second || s.EmitBaseline ||
		s.AlertTopicARN != "" || s.NoticeQuiet != 6*time.Hour {
		t.Fatalf("defaults: %+v, %v", s, err)
	}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for kk, vv := range base {
			m[kk] = vv
		}
		m[k] = v
		return m
	}
	for _, m := range []string{"in-process", "local"} { // local: the old spelling
		if s, err := SettingsFromEnv(lookup(with("MARKETO_BUDGET_MODE", m)), true); err != nil || s.BudgetMode != limit.ModeInProcess {
			t.Fatalf("MARKETO_BUDGET_MODE=%s: %+v, %v; want in-process", m, s, err)
		}
	}
	if s, err := SettingsFromEnv(lookup(with("MARKETO_BUDGET_MODE", "shared")), true); err != nil || s.BudgetMode != limit.ModeShared {
		t.Fatalf("MARKETO_BUDGET_MODE=shared: %+v, %v", s, err)
	}
	if s, err := SettingsFromEnv(lookup(with("DETECTOR_EMIT_BASELINE", "true")), true); err != nil || !s.EmitBaseline {
		t.Fatalf("DETECTOR_EMIT_BASELINE=true: %+v, %v", s, err)
	}
	topic := "arn:aws:sns:us-east-1:123456789012:certain-marketo-prod-AlertTopic-1A2B3C"
	if s, err := SettingsFromEnv(lookup(with("ALERT_TOPIC_ARN", topic)), true); err != nil || s.AlertTopicARN != topic {
		t.Fatalf("ALERT_TOPIC_ARN: %+v, %v", s, err)
	}
	if s, err := SettingsFromEnv(lookup(with("RUN_NOTICE_QUIET", "0s")), true); err != nil || s.NoticeQuiet != 0 {
		t.Fatalf("RUN_NOTICE_QUIET=0s: %+v, %v; want every notice sent", s, err)
	}
	for _, tc := range []struct {
		env   map[string]string
		queue bool
		want  string
	}{
		{map[string]string{"STATE_TABLE": "s"}, false, "CONFIG_TABLE not set"},
		{map[string]string{"CONFIG_TABLE": "c", "STATE_TABLE": "s"}, true, "CHANGE_QUEUE_URL not set"},
		{with("DEADLINE_MARGIN", "soon"), true, `DEADLINE_MARGIN "soon"`},
		{with("MARKETO_BUDGET_MODE", "both"), true, `MARKETO_BUDGET_MODE: limit: budget mode "both"`},
		{with("DETECTOR_EMIT_BASELINE", "yes"), true, `DETECTOR_EMIT_BASELINE "yes"`},
		{with("ALERT_TOPIC_ARN", "certain-marketo-alerts"), true, `ALERT_TOPIC_ARN "certain-marketo-alerts" is not an SNS topic ARN`},
		{with("RUN_NOTICE_QUIET", "6"), true, `RUN_NOTICE_QUIET "6"`},
		{with("RUN_NOTICE_QUIET", "-1h"), true, `RUN_NOTICE_QUIET "-1h"`},
	} {
		if _, err := SettingsFromEnv(lookup(tc.env), tc.queue); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err %v, want one naming %s", tc.env, err, tc.want)
		}
	}
}
