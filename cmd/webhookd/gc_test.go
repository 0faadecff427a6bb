package main

import (
	"os"
	"runtime/debug"
	"testing"
)

// TestTuneGC: serve sets the collector's target to gcPercent, unless the
// operator set GOGC.
func TestTuneGC(t *testing.T) {
	before := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(before) })

	t.Setenv("GOGC", "") // registers the restore of the variable
	os.Unsetenv("GOGC")
	tuneGC()
	if got := debug.SetGCPercent(100); got != gcPercent {
		t.Errorf("GOGC unset: the target is %d, want %d", got, gcPercent)
	}

	t.Setenv("GOGC", "100")
	tuneGC()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC=100: the target is %d, want the operator's 100", got)
	}
}
