package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/webhookd/webhookd/internal/loadgen"
)

// The series of a webhookd's /metrics that the cost of a run is read from.
const (
	metricCPU      = "process_cpu_seconds_total"
	metricDeferred = `webhookd_deliveries_total{outcome="deferred"}`
	metricPolled   = "webhookd_deliveries_polled_total"
)

// Cost is what the measured events cost the service: CPU time of the
// webhookd processes given by --url (their own process_cpu_seconds_total)
// and of the PostgreSQL server given by --db (all its processes, read from
// /proc), and the deliveries the engines deferred or found only by polling
// (from their /metrics). An embedded webhookd shares this process with the
// load generator and the receivers, so its CPU time is not counted.
type Cost struct {
	Events      int     // events accepted while it was measured
	WebhookdCPU float64 // seconds; NaN when not measured
	DBCPU       float64 // seconds; NaN when not measured
	Deferred    float64
	Polled      float64 // NaN when the server does not count it
}

// unmeasured is the Cost of a run that stopped before it was measured.
var unmeasured = Cost{WebhookdCPU: math.NaN(), DBCPU: math.NaN(), Deferred: math.NaN(), Polled: math.NaN()}

// cpuMSPerEvent is seconds of CPU per event in milliseconds; NaN stays NaN.
func (c Cost) cpuMSPerEvent(seconds float64) float64 {
	if c.Events == 0 {
		return math.NaN()
	}
	return seconds * 1000 / float64(c.Events)
}

// costMeter samples the counters a Cost is the difference of.
type costMeter struct {
	clients   []*loadgen.Client
	cpu       bool // the webhookd processes are not this one
	db        *serverProcesses
	dbErr     error
	startedAt costSample
}

type costSample struct {
	webhookdCPU, dbCPU, deferred, polled float64
}

// newCostMeter prepares the measurement; a database that cannot be
// measured is reported with the result, not an error: the run is still
// worth its other numbers.
func newCostMeter(ctx context.Context, o *Options, clients []*loadgen.Client) *costMeter {
	m := &costMeter{clients: clients, cpu: len(o.urls) > 0}
	if o.db != "" {
		m.db, m.dbErr = findServerProcesses(ctx, o.db)
	}
	return m
}

// sample reads every counter now; a counter it cannot read is NaN.
func (m *costMeter) sample(ctx context.Context) costSample {
	s := costSample{webhookdCPU: math.NaN(), dbCPU: math.NaN(), polled: math.NaN()}
	if m.db != nil {
		if cpu, err := m.db.cpuSeconds(); err == nil {
			s.dbCPU = cpu
		} else {
			m.dbErr = err
		}
	}
	var cpu, polled float64
	hasPolled := true
	for _, c := range m.clients {
		mctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		values, err := c.Metrics(mctx)
		cancel()
		if err != nil {
			return costSample{webhookdCPU: math.NaN(), dbCPU: s.dbCPU, deferred: math.NaN(), polled: math.NaN()}
		}
		cpu += values[metricCPU]
		s.deferred += values[metricDeferred]
		p, ok := values[metricPolled]
		hasPolled = hasPolled && ok
		polled += p
	}
	if m.cpu {
		s.webhookdCPU = cpu
	}
	if hasPolled {
		s.polled = polled
	}
	return s
}

// start takes the first sample.
func (m *costMeter) start(ctx context.Context) { m.startedAt = m.sample(ctx) }

// stop takes the last sample and returns the cost of events events.
func (m *costMeter) stop(ctx context.Context, events int) Cost {
	end := m.sample(ctx)
	return Cost{
		Events:      events,
		WebhookdCPU: end.webhookdCPU - m.startedAt.webhookdCPU,
		DBCPU:       end.dbCPU - m.startedAt.dbCPU,
		Deferred:    end.deferred - m.startedAt.deferred,
		Polled:      end.polled - m.startedAt.polled,
	}
}

// serverProcesses are a PostgreSQL server's processes on this machine: its
// postmaster and every process it started.
type serverProcesses struct {
	proc       string // /proc
	postmaster int
}

// findServerProcesses finds the postmaster of the server at url: the parent
// of the backend serving a connection to it, which must be a process of
// this machine.
func findServerProcesses(ctx context.Context, url string) (*serverProcesses, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("--db: %w", err)
	}
	defer conn.Close(ctx)
	var backend int
	if err := conn.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&backend); err != nil {
		return nil, fmt.Errorf("--db: %w", err)
	}
	st, err := readProcStat("/proc", backend)
	if err != nil {
		return nil, fmt.Errorf("--db: the server's processes are not on this machine (backend %d): %w", backend, err)
	}
	return &serverProcesses{proc: "/proc", postmaster: st.ppid}, nil
}

// cpuSeconds is the CPU time of the server's processes so far: the
// postmaster's own and that of its children that ended (which it waited
// for), and that of every child running now. A backend that ends between
// two samples moves from the second sum to the first.
func (sp *serverProcesses) cpuSeconds() (float64, error) {
	pm, err := readProcStat(sp.proc, sp.postmaster)
	if err != nil {
		return 0, fmt.Errorf("the PostgreSQL server's postmaster (%d): %w", sp.postmaster, err)
	}
	ticks := pm.utime + pm.stime + pm.cutime + pm.cstime
	entries, err := os.ReadDir(sp.proc)
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := readProcStat(sp.proc, pid)
		if err != nil || st.ppid != sp.postmaster {
			continue // gone meanwhile, or not the server's
		}
		ticks += st.utime + st.stime
	}
	return float64(ticks) / clockTicks, nil
}

// clockTicks is the unit of /proc's CPU times (USER_HZ, 100 on Linux).
const clockTicks = 100

// procStat is what cost reads of /proc/PID/stat.
type procStat struct {
	ppid                         int
	utime, stime, cutime, cstime int64
}

// readProcStat reads /proc/PID/stat (proc(5)). The command name, in
// parentheses, may hold spaces: the fields are counted after its end.
func readProcStat(proc string, pid int) (procStat, error) {
	b, err := os.ReadFile(filepath.Join(proc, strconv.Itoa(pid), "stat"))
	if err != nil {
		return procStat{}, err
	}
	return parseProcStat(string(b))
}

func parseProcStat(s string) (procStat, error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procStat{}, errors.New("no command name in /proc stat")
	}
	// After the name: state (field 3), ppid (4), …, utime (14), stime
	// (15), cutime (16), cstime (17).
	f := strings.Fields(s[i+1:])
	if len(f) < 15 {
		return procStat{}, errors.New("short /proc stat")
	}
	var st procStat
	var err error
	num := func(k int) int64 {
		n, perr := strconv.ParseInt(f[k-3], 10, 64)
		if perr != nil && err == nil {
			err = fmt.Errorf("/proc stat field %d: %w", k, perr)
		}
		return n
	}
	st.ppid = int(num(4))
	st.utime, st.stime, st.cutime, st.cstime = num(14), num(15), num(16), num(17)
	return st, err
}
