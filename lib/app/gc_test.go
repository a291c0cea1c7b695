package app

import (
	"runtime/debug"
	"testing"
)

// TestSetGCPercent: a function collects at gcPercent unless its environment
// sets GOGC, which the runtime honours on its own.
func TestSetGCPercent(t *testing.T) {
	prev := debug.SetGCPercent(100)
	defer debug.SetGCPercent(prev)
	setGCPercent(func(string) (string, bool) { return "", false })
	if got := debug.SetGCPercent(100); got != gcPercent {
		t.Errorf("GOGC unset: the collector's target is %d, want %d", got, gcPercent)
	}
	setGCPercent(func(k string) (string, bool) { return "200", k == "GOGC" })
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC set: the target was changed to %d, want it left at 100", got)
	}
}
