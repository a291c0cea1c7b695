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
	if err != nil || s.BudgetMode != "shared" || s.DeadlineMargin != 30*time.Second || s.EmitBaseline {
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
	} {
		if _, err := SettingsFromEnv(lookup(tc.env), tc.queue); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err %v, want one naming %s", tc.env, err, tc.want)
		}
	}
}
