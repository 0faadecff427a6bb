package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// multiRow is a statement whose rows are bound parameters, n at a time:
// head, then n copies of row joined by commas, then tail. Binding the rows
// directly is cheaper than one execution per row (each costs a trip through
// database/sql and the driver) and than one JSON parameter (which SQLite
// turns into text and parses again for every field).
//
// Its forms for the row counts of rowCounts are prepared when the store
// opens, and within combines them for any count: inside a transaction,
// which holds the writer's one connection, nothing can be prepared, and a
// form for every count up to the batch size would hold the memory of a
// hundred compiled statements.
type multiRow struct {
	byN map[int]*sql.Stmt
}

// rowCounts are the forms of every multiRow, largest first: any count is a
// sum of a few of them (100 = 64 + 32 + 4).
var rowCounts = []int{64, 32, 16, 8, 4, 2, 1}

// prepareMultiRow prepares the forms of a multiRow statement on db.
func prepareMultiRow(ctx context.Context, db *sql.DB, head, row, tail string) (*multiRow, error) {
	m := &multiRow{byN: make(map[int]*sql.Stmt, len(rowCounts))}
	for _, n := range rowCounts {
		var b strings.Builder
		b.WriteString(head)
		for i := range n {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(row)
		}
		b.WriteString(tail)
		st, err := db.PrepareContext(ctx, b.String())
		if err != nil {
			_ = m.close()
			return nil, fmt.Errorf("sqlite: prepare a statement of %d rows: %w", n, err)
		}
		m.byN[n] = st
	}
	return m, nil
}

// within returns the forms that together write rows rows, and the row count
// of each.
func (m *multiRow) within(rows int) ([]*sql.Stmt, []int) {
	var stmts []*sql.Stmt
	var counts []int
	for _, n := range rowCounts {
		for rows >= n {
			stmts, counts = append(stmts, m.byN[n]), append(counts, n)
			rows -= n
		}
	}
	return stmts, counts
}

// forRows calls run with each of m's statements that together take n
// rows, and its arguments: head, then the values next appends for each of
// its rows, in order. Only one statement's arguments exist at a time, so a
// request of 100 events fanned out to 100 webhooks each does not build its
// 10,000 rows in memory first.
func forRows(m *multiRow, n int, head []any, next func(args []any) []any, run func(st *sql.Stmt, args []any) error) error {
	stmts, counts := m.within(n)
	var args []any
	for i, st := range stmts {
		args = append(args[:0], head...)
		for range counts[i] {
			args = next(args)
		}
		if err := run(st, args); err != nil {
			return err
		}
	}
	return nil
}

func (m *multiRow) close() error {
	if m == nil {
		return nil
	}
	var errs []error
	for _, st := range m.byN {
		errs = append(errs, st.Close())
	}
	return errors.Join(errs...)
}
