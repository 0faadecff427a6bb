// Package logtest holds what tests need to read a server's logs while it
// writes them.
package logtest

import (
	"bytes"
	"sync"
)

// Buffer is a log destination safe for the server's goroutines, which a
// test reads while they write.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
