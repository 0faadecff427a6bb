package sqlite

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
)

// fileMode is the mode of a database file that Open creates. The file holds
// payloads, files and key hashes: it is no one else's to read. SQLite gives
// the -wal and -shm files it creates beside it the database file's mode, so
// they are 0600 too.
const fileMode fs.FileMode = 0o600

// ErrNoDatabase is returned by Open with Options.MustExist when the file does
// not exist.
var ErrNoDatabase = errors.New("no database file")

// prepareFile makes sure the database file at path exists before SQLite opens
// it: created with fileMode, or, with mustExist, refused when missing. An
// existing file (and its -wal and -shm) that other users may read or write,
// as earlier versions created them, loses those permissions; the owner's and
// the group's are left as the operator set them.
func prepareFile(path string, mustExist bool, log *slog.Logger) error {
	_, err := os.Stat(path)
	switch {
	case err == nil:
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			restrict(p, log)
		}
		return nil
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("sqlite: open %s: %w", path, err)
	case mustExist:
		return fmt.Errorf("sqlite: %w at %s", ErrNoDatabase, path)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, fileMode)
	if errors.Is(err, fs.ErrExist) {
		return nil // another process created it meanwhile
	}
	if err != nil {
		return fmt.Errorf("sqlite: create %s: %w", path, err)
	}
	return f.Close()
}

// restrict removes the permissions of other users from the file at path, if
// it exists and has any.
func restrict(path string, log *slog.Logger) {
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm()&0o007 == 0 {
		return
	}
	mode := fi.Mode().Perm() &^ 0o007
	if err := os.Chmod(path, mode); err != nil {
		log.Warn("sqlite: a database file is open to other users and cannot be restricted; chmod it yourself",
			"file", path, "mode", fi.Mode().Perm().String(), "err", err)
		return
	}
	log.Warn("sqlite: a database file was open to other users; removed their permissions",
		"file", path, "was", fi.Mode().Perm().String(), "now", mode.String())
}
