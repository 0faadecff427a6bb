package bench

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServerProcessesCPU: a server's CPU time is its postmaster's own and
// its ended children's, plus every running child's; other processes do not
// count, whatever their names hold.
func TestServerProcessesCPU(t *testing.T) {
	t.Parallel()
	proc := t.TempDir()
	stat := func(pid, line string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(proc, pid), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(proc, pid, "stat"), []byte(line), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Fields after the name: state ppid pgrp session tty tpgid flags minflt
	// cminflt majflt cmajflt utime stime cutime cstime …
	stat("100", "100 (postgres) S 1 100 100 0 -1 0 0 0 0 0 10 20 300 400 20 0 1 0")
	stat("101", "101 (postgres: walwriter) S 100 100 100 0 -1 0 0 0 0 0 5 5 0 0 20 0 1 0")
	stat("102", "102 (postgres: postgres test 127.0.0.1(5) idle) S 100 100 100 0 -1 0 0 0 0 0 50 10 0 0 20 0 1 0")
	stat("200", "200 (a (tricky) name) S 1 200 200 0 -1 0 0 0 0 0 999 999 0 0 20 0 1 0")
	stat("self", "not a pid")
	sp := &serverProcesses{proc: proc, postmaster: 100}
	got, err := sp.cpuSeconds()
	if err != nil {
		t.Fatal(err)
	}
	if want := float64(10+20+300+400+5+5+50+10) / clockTicks; got != want {
		t.Errorf("cpuSeconds = %v, want %v", got, want)
	}
	if st, err := parseProcStat("200 (a (tricky) name) S 1 200 200 0 -1 0 0 0 0 0 999 998 0 0 20 0 1 0"); err != nil || st.ppid != 1 || st.stime != 998 {
		t.Errorf("a name with parentheses: %+v, %v", st, err)
	}
	if _, err := parseProcStat("7 (x) S 1 2"); err == nil {
		t.Error("a short line parsed")
	}
}

// TestCostKeys: the result line carries only what was measured.
func TestCostKeys(t *testing.T) {
	t.Parallel()
	nan := math.NaN()
	tests := []struct {
		name string
		cost Cost
		want string
	}{
		{"not measured", unmeasured, ""},
		{"embedded: no CPU time", Cost{Events: 100, WebhookdCPU: nan, DBCPU: nan, Deferred: 3, Polled: 0}, "deferrals=3 polls=0"},
		{"--url on SQLite", Cost{Events: 1000, WebhookdCPU: 0.5, DBCPU: nan, Deferred: 0, Polled: nan},
			"cpu_ms_per_event=0.500 webhookd_cpu_ms_per_event=0.500 deferrals=0"},
		{"--url with --db", Cost{Events: 1000, WebhookdCPU: 0.25, DBCPU: 0.5, Deferred: 2, Polled: 1},
			"cpu_ms_per_event=0.750 webhookd_cpu_ms_per_event=0.250 db_cpu_ms_per_event=0.500 deferrals=2 polls=1"},
	}
	for _, tt := range tests {
		r := &Result{Cost: tt.cost}
		var parts []string
		for _, kv := range r.costKeys() {
			parts = append(parts, kv[0]+"="+kv[1])
		}
		if got := strings.Join(parts, " "); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}
