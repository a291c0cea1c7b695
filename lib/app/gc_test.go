package app

import (
	"runtime/debug"
	"testing"
)

// TestSetupSetsGCPercent: a function's set-up makes it collect at GCPercent
// unless its environment sets GOGC, which the runtime honours on its own.
// (The environments here lack the tables, so set-up fails after that.)
func TestSetupSetsGCPercent(t *testing.T) {
	prev := debug.SetGCPercent(100)
	defer debug.SetGCPercent(prev)
	if _, err := setup(func(string) (string, bool) { return "", false }, false, true); err == nil {
		t.Fatal("set-up without CONFIG_TABLE succeeded")
	}
	if got := debug.SetGCPercent(100); got != GCPercent {
		t.Errorf("GOGC unset: the collector's target is %d, want %d", got, GCPercent)
	}
	if _, err := setup(func(k string) (string, bool) { return "200", k == "GOGC" }, false, true); err == nil {
		t.Fatal("set-up without CONFIG_TABLE succeeded")
	}
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC set: the target was changed to %d, want it left at 100", got)
	}
}
