package migration_test

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/webhookd/webhookd/internal/migration"
)

func TestLoad(t *testing.T) {
	t.Parallel()
	file := func(sql string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(sql)} }
	t.Run("in version order", func(t *testing.T) {
		got, err := migration.Load(fstest.MapFS{
			"m/0010_later.sql":  file("C"),
			"m/0002_second.sql": file("B"),
			"m/0001_init.sql":   file("A"),
		}, "m")
		if err != nil {
			t.Fatal(err)
		}
		var names, sqls []string
		for _, m := range got {
			names, sqls = append(names, m.Name), append(sqls, m.SQL)
		}
		if strings.Join(names, " ") != "0001_init.sql 0002_second.sql 0010_later.sql" || strings.Join(sqls, "") != "ABC" || got[2].Version != 10 {
			t.Errorf("Load = %+v", got)
		}
		if b := migration.Before(got, "0010_later.sql"); len(b) != 2 {
			t.Errorf("Before the third = %+v, want the first two", b)
		}
		if b := migration.Before(got, "0099_none.sql"); len(b) != 3 {
			t.Errorf("Before a name that is not there = %+v, want all", b)
		}
	})
	for _, tt := range []struct {
		name string
		fsys fstest.MapFS
		want string
	}{
		{"no number", fstest.MapFS{"m/init.sql": file("")}, `"init.sql": name must be`},
		{"zero", fstest.MapFS{"m/0000_init.sql": file("")}, `"0000_init.sql": name must be`},
		{"not SQL", fstest.MapFS{"m/0001_init.txt": file("")}, `"0001_init.txt": name must be`},
		{"one version twice", fstest.MapFS{"m/0001_a.sql": file(""), "m/01_b.sql": file("")}, "share version 1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := migration.Load(tt.fsys, "m"); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Load: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
