package bench

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// progress prints a status line to stderr every second while a phase runs.
type progress struct {
	w     io.Writer
	mu    sync.Mutex
	phase string
	start time.Time
	line  func() string
	quit  chan struct{}
	wg    sync.WaitGroup
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w, quit: make(chan struct{})}
	p.wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-p.quit:
				return
			case <-t.C:
				p.mu.Lock()
				if p.line != nil {
					fmt.Fprintf(p.w, "bench: %s: %s (%.0fs)\n", p.phase, p.line(), time.Since(p.start).Seconds())
				}
				p.mu.Unlock()
			}
		}
	})
	return p
}

func (p *progress) say(msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "bench: %s\n", msg)
}

// run starts reporting a phase.
func (p *progress) run(phase string, line func() string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.phase, p.line, p.start = phase, line, time.Now()
	fmt.Fprintf(p.w, "bench: %s…\n", phase)
}

// done ends the phase with its last status.
func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.line != nil {
		fmt.Fprintf(p.w, "bench: %s: %s, done in %.2fs\n", p.phase, p.line(), time.Since(p.start).Seconds())
	}
	p.line = nil
}

func (p *progress) stop() {
	close(p.quit)
	p.wg.Wait()
}
