package sqlite

import (
	"database/sql"
	"slices"
	"testing"
)

func TestMultiRowWithin(t *testing.T) {
	t.Parallel()
	m := &multiRow{byN: map[int]*sql.Stmt{}}
	for _, n := range rowCounts {
		m.byN[n] = &sql.Stmt{}
	}
	for _, tc := range []struct {
		rows int
		want []int
	}{
		{0, nil},
		{1, []int{1}},
		{3, []int{2, 1}},
		{64, []int{64}},
		{100, []int{64, 32, 4}},
		{127, []int{64, 32, 16, 8, 4, 2, 1}},
		{250, []int{64, 64, 64, 32, 16, 8, 2}},
	} {
		stmts, counts := m.within(tc.rows)
		if !slices.Equal(counts, tc.want) || len(stmts) != len(counts) {
			t.Errorf("within(%d) = %d statements of %v rows, want %v", tc.rows, len(stmts), counts, tc.want)
		}
	}
}
