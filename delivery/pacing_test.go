package delivery

import (
	"testing"
	"time"

	"github.com/webhookd/webhookd/internal/fakeclock"
)

// TestPacing walks the claim loop's pacing through the cues it sees, one
// table row a sequence: each cue with its measurements, and the step the
// pacing must answer.
func TestPacing(t *testing.T) {
	t.Parallel()
	const poll = 500 * time.Millisecond
	type turn struct {
		cue  cue
		in   paceInput
		want paceStep
	}
	room := func(n int) paceInput { return paceInput{room: n, hardRoom: 1000, idleWorkers: 64} }
	claimed := func(asked, got int, saturated bool) paceInput {
		return paceInput{room: 100, idleWorkers: 64, asked: asked, got: got, saturated: saturated}
	}
	waitPoll := paceStep{timer: poll, freed: true}
	waitShort := paceStep{timer: saturatedWait, freed: true}
	waitOn := paceStep{freed: true}
	idle := paceStep{timer: poll, wake: true}
	idleOn := paceStep{wake: true}
	claim := func(n int) paceStep { return paceStep{claim: n} }
	polled := func(n int) paceStep { return paceStep{claim: n, poll: true} }
	tests := []struct {
		name  string
		turns []turn
	}{
		{"room for a batch: claim it, and again while claims come back full", []turn{
			{cueStart, room(100), claim(100)},
			{cueClaimed, claimed(100, 100, false), claim(100)},
		}},
		{"a claim that finds fewer than asked: idle until a wake-up", []turn{
			{cueStart, room(100), claim(100)},
			{cueClaimed, claimed(100, 3, false), idle},
			{cueHanded, room(100), idleOn}, // dispatched; the poll deadline stands
			{cueWake, room(100), claim(100)},
		}},
		{"idle until the poll", []turn{
			{cueClaimed, claimed(100, 0, false), idle},
			{cueTimer, room(80), polled(80)},
		}},
		{"a saturating claim waits for an attempt to end, the short wait at most", []turn{
			{cueClaimed, claimed(100, 100, true), waitShort},
			{cueFreed, room(100), claim(100)},
		}},
		{"the short wait ends with room: claim it", []turn{
			{cueClaimed, claimed(100, 100, true), waitShort},
			{cueTimer, room(60), claim(60)},
		}},
		{"the short wait ends without room: wait the poll interval, then claim what idle workers take", []turn{
			{cueClaimed, claimed(100, 100, true), waitShort},
			{cueTimer, room(5), waitPoll},
			{cueTimer, room(5), polled(64)},
		}},
		{"too little room: wait for more, until the poll", []turn{
			{cueStart, room(10), waitPoll},
			{cueFreed, room(20), waitOn},
			{cueHanded, room(20), waitOn}, // the deadline stands
			{cueFreed, room(40), claim(40)},
		}},
		{"no room and no idle worker at the poll: claim one", []turn{
			{cueStart, paceInput{hardRoom: 1000}, waitPoll},
			{cueTimer, paceInput{hardRoom: 1000}, polled(1)},
		}},
		{"at most a batch at the poll, however many workers are idle", []turn{
			{cueStart, room(0), waitPoll},
			{cueTimer, paceInput{idleWorkers: 500, hardRoom: 1000}, polled(100)},
		}},
		{"at the poll, no more than the queues hold: a full destination's claims would be written back", []turn{
			{cueStart, room(0), waitPoll},
			{cueTimer, paceInput{idleWorkers: 48, hardRoom: 20}, polled(20)},
		}},
		{"the queues full at the poll: no claim, another poll interval", []turn{
			{cueStart, room(0), waitPoll},
			{cueTimer, paceInput{idleWorkers: 48}, waitPoll},
			{cueTimer, paceInput{idleWorkers: 48, hardRoom: 100}, polled(48)},
		}},
		{"deep, fast queues: wait for room for a whole batch", []turn{
			{cueStart, paceInput{room: 30, queued: 900, drain: 20000}, waitPoll},
			{cueFreed, paceInput{room: 70, queued: 900, drain: 20000}, waitOn},
			{cueFreed, paceInput{room: 100, queued: 900, drain: 20000}, claim(100)},
		}},
		{"deep queues of a slow destination: claim what there is room for", []turn{
			{cueStart, paceInput{room: 30, queued: 100, drain: 160}, claim(30)},
		}},
		{"a hand-off that fills a destination while idle: the wake-up waits the short wait", []turn{
			{cueClaimed, claimed(100, 0, false), idle},
			{cueHanded, paceInput{room: 100, saturated: true}, idleOn},
			{cueWake, room(100), waitShort},
			{cueFreed, room(100), claim(100)},
		}},
		{"room comes while waiting for the poll, and the poll claims it", []turn{
			{cueStart, room(10), waitPoll},
			{cueTimer, room(60), polled(60)},
		}},
		{"a wake-up while idle is no poll", []turn{
			{cueClaimed, claimed(100, 0, false), idle},
			{cueWake, room(100), claim(100)},
			{cueClaimed, claimed(100, 0, false), idle},
			{cueTimer, room(0), waitPoll}, // the poll found no room: no claim, no poll counted
		}},
		{"a claim ends the wait: the next wait has a timer of its own", []turn{
			{cueStart, room(10), waitPoll},
			{cueHanded, room(100), claim(100)},
			{cueClaimed, claimed(100, 100, true), waitShort},
		}},
	}
	p := newPacing(100, poll)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s paceState
			for i, tn := range tt.turns {
				var got paceStep
				s, got = p.next(s, tn.cue, tn.in)
				if got != tn.want {
					t.Fatalf("turn %d (cue %d, %+v): step %+v, want %+v", i+1, tn.cue, tn.in, got, tn.want)
				}
			}
		})
	}
}

// TestPacingShortPoll: the short wait is never longer than the poll.
func TestPacingShortPoll(t *testing.T) {
	t.Parallel()
	p := newPacing(100, time.Millisecond)
	if _, step := p.next(paceState{}, cueClaimed, paceInput{room: 100, asked: 100, got: 100, saturated: true}); step.timer != time.Millisecond {
		t.Errorf("short wait %v with a 1ms poll interval, want 1ms", step.timer)
	}
}

// TestDrainMeter: the rate is measured over drainWindow at least, and held
// in between.
func TestDrainMeter(t *testing.T) {
	t.Parallel()
	clock := fakeclock.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	var m drainMeter
	steps := []struct {
		advance time.Duration
		ended   int64
		want    float64
	}{
		{0, 7, 0},                     // the first measurement starts the window
		{5 * time.Millisecond, 57, 0}, // the window has not passed: unknown yet
		{5 * time.Millisecond, 107, 10000},
		{5 * time.Millisecond, 107, 10000}, // held until the next window passes
		{15 * time.Millisecond, 107, 0},
		{time.Second, 307, 200},
	}
	for i, st := range steps {
		if got := m.measure(clock.Advance(st.advance), st.ended); got != st.want {
			t.Errorf("step %d: %v/s, want %v/s", i+1, got, st.want)
		}
	}
}

// TestTooSmall: behind a deep queue the claim loop waits for room for a
// whole batch when the queues free it within wholeBatchWait, and claims at
// once behind a slow destination's queue, whose other destinations' claims
// would otherwise wait for it.
func TestTooSmall(t *testing.T) {
	t.Parallel()
	const minBatch, batch = 25, 100
	tests := []struct {
		name   string
		limit  int
		queued int
		drain  float64 // places freed per second
		want   bool
	}{
		{"below the least claim", 24, 0, 1e6, true},
		{"a whole batch", 100, 1000, 0, false},
		{"shallow queues: claim what there is room for", 30, 99, 1e6, false},
		{"deep, fast queues: wait for the rest of the batch", 30, 900, 20000, true},
		{"deep queues of a slow destination: claim now", 30, 100, 160, false},
		{"drain unknown: claim now", 30, 500, 0, false},
		{"the rest freed in exactly wholeBatchWait", 50, 500, 1000, true},
	}
	for _, tt := range tests {
		if got := tooSmall(tt.limit, minBatch, batch, tt.queued, tt.drain); got != tt.want {
			t.Errorf("%s: tooSmall(%d, queued %d, drain %v/s) = %v, want %v", tt.name, tt.limit, tt.queued, tt.drain, got, tt.want)
		}
	}
}
