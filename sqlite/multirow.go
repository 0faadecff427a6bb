package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// maxRowsPerStatement bounds the rows one multiRow statement takes; longer
// lists are written in several statements of the same transaction.
const maxRowsPerStatement = 100

// multiRow is a statement whose rows are bound parameters, n at a time:
// head, then n copies of row joined by commas, then tail. Binding the rows
// directly is cheaper than one execution per row (each costs a trip through
// database/sql and the driver) and than one JSON parameter (which SQLite
// turns into text and parses again for every field). The prepared forms are
// kept per n, for the one writer connection.
type multiRow struct {
	db              *sql.DB
	head, row, tail string
	params          int   // parameters per row
	sizes           []int // row counts prepared by prepareSizes, largest first
	mu              sync.Mutex
	byN             map[int]*sql.Stmt
}

func newMultiRow(db *sql.DB, head, row, tail string) *multiRow {
	return &multiRow{db: db, head: head, row: row, tail: tail, params: strings.Count(row, "?"), byN: map[int]*sql.Stmt{}}
}

// chunks returns the prepared statements that write rows rows, in order:
// full ones of maxRowsPerStatement, then one for the rest. Call it before
// taking the writer (preparing needs its connection).
func (m *multiRow) chunks(ctx context.Context, rows int) ([]*sql.Stmt, error) {
	var out []*sql.Stmt
	for rows > 0 {
		n := min(rows, maxRowsPerStatement)
		st, err := m.stmt(ctx, n)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
		rows -= n
	}
	return out, nil
}

// powersOfTwo are the sizes prepareSizes prepares for statements written
// inside transactions: any row count is a sum of a few of them.
var powersOfTwo = []int{64, 32, 16, 8, 4, 2, 1}

// prepareSizes prepares the statements of the given row counts, largest
// first, so that inside a transaction (which holds the writer's connection
// and so cannot prepare) within returns statements for any row count.
func (m *multiRow) prepareSizes(ctx context.Context, sizes []int) error {
	m.sizes = sizes
	for _, n := range sizes {
		if _, err := m.stmt(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

// within returns prepared statements, of the sizes prepareSizes prepared,
// that together write rows rows, and their row counts.
func (m *multiRow) within(rows int) ([]*sql.Stmt, []int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var stmts []*sql.Stmt
	var counts []int
	for _, n := range m.sizes {
		for rows >= n {
			stmts, counts = append(stmts, m.byN[n]), append(counts, n)
			rows -= n
		}
	}
	return stmts, counts
}

func (m *multiRow) stmt(ctx context.Context, n int) (*sql.Stmt, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if st := m.byN[n]; st != nil {
		return st, nil
	}
	var b strings.Builder
	b.WriteString(m.head)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(m.row)
	}
	b.WriteString(m.tail)
	st, err := m.db.PrepareContext(ctx, b.String())
	if err != nil {
		return nil, fmt.Errorf("sqlite: prepare a statement of %d rows: %w", n, err)
	}
	m.byN[n] = st
	return st, nil
}

func (m *multiRow) close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var errs []error
	for n, st := range m.byN {
		errs = append(errs, st.Close())
		delete(m.byN, n)
	}
	return errors.Join(errs...)
}
