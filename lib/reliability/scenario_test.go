package reliability

import (
	"testing"
)

func requireHeld(t *testing.T, r Result) {
	t.Helper()
	t.Logf("%s | %s | %s | held=%v", r.Scenario, r.Faults, r.Outcome(), r.Held())
	for _, v := range r.Violations {
		t.Errorf("%s", v)
	}
}

func TestNoFaults(t *testing.T) {
	r := RunScenario(t, Scenario{Name: "no faults"})
	requireHeld(t, r)
}
