package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// pgCluster is a PostgreSQL server the test owns: its own cluster, made by
// the installed PostgreSQL's initdb in a temporary directory and run with
// pg_ctl on a free loopback port, so that the test may stop and start it
// without disturbing anyone else's database. initdb refuses to run as root;
// as root the cluster runs as the postgres user.
type pgCluster struct {
	bin  string // the directory of initdb, pg_ctl, postgres
	dir  string
	data string
	port int
	user string // "" runs as the current user
}

// pgBinDir finds the installed PostgreSQL's programs: WEBHOOKD_TEST_PG_BIN,
// or the newest /usr/lib/postgresql/*/bin.
func pgBinDir(t *testing.T) string {
	if dir := os.Getenv("WEBHOOKD_TEST_PG_BIN"); dir != "" {
		return dir
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgMajor(dirs[i]) < pgMajor(dirs[j]) })
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "initdb")); err == nil {
			return dirs[i]
		}
	}
	t.Skip("no PostgreSQL programs found (set WEBHOOKD_TEST_PG_BIN to the directory of initdb and pg_ctl)")
	return ""
}

func pgMajor(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// newPGCluster initialises and starts a cluster; it is stopped and removed
// when the test ends.
func newPGCluster(t *testing.T) *pgCluster {
	t.Helper()
	c := &pgCluster{bin: pgBinDir(t)}
	dir, err := os.MkdirTemp("", "webhookd-pg-")
	if err != nil {
		t.Fatal(err)
	}
	c.dir, c.data = dir, filepath.Join(dir, "data")
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Skipf("running as root and there is no postgres user to run initdb as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		c.user = "postgres"
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	c.port = freePort(t)
	c.run(t, "initdb", "-D", c.data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync", "--no-instructions")
	conf := fmt.Sprintf("port = %d\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '%s'\n"+
		// The test is about restarts, not crashes: durability costs the
		// shared machine time for nothing.
		"fsync = off\nfull_page_writes = off\nmax_connections = 100\n", c.port, c.dir)
	c.run(t, "sh", "-c", fmt.Sprintf("cat >> %s/postgresql.auto.conf <<'EOF'\n%sEOF\n", c.data, conf))
	if err := c.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.cmd("pg_ctl", "-D", c.data, "-m", "immediate", "-w", "stop").Run() })
	return c
}

// URL is the cluster's connection URL for database postgres; extra is
// appended to the query.
func (c *pgCluster) URL(extra string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable%s", c.port, extra)
}

func (c *pgCluster) start() error {
	return c.output("pg_ctl", "-D", c.data, "-l", filepath.Join(c.dir, "server.log"), "-w", "-t", "60", "start")
}

// stop shuts the server down in mode (smart, fast, immediate).
func (c *pgCluster) stop(mode string) error {
	return c.output("pg_ctl", "-D", c.data, "-m", mode, "-w", "-t", "60", "stop")
}

// cmd is name (a PostgreSQL program, or any other) run as the cluster's
// user.
func (c *pgCluster) cmd(name string, args ...string) *exec.Cmd {
	if _, err := os.Stat(filepath.Join(c.bin, name)); err == nil {
		name = filepath.Join(c.bin, name)
	}
	if c.user != "" {
		return exec.Command("runuser", append([]string{"-u", c.user, "--", name}, args...)...)
	}
	return exec.Command(name, args...)
}

func (c *pgCluster) run(t *testing.T, name string, args ...string) {
	t.Helper()
	if err := c.output(name, args...); err != nil {
		t.Fatal(err)
	}
}

// output runs name and returns an error with its output and the server's
// log when it fails.
func (c *pgCluster) output(name string, args ...string) error {
	cmd := c.cmd(name, args...)
	cmd.Dir = c.dir
	if out, err := cmd.CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "server.log"))
		return fmt.Errorf("%s %v: %w\n%s\nserver log:\n%s", name, args, err, out, log)
	}
	return nil
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startPgBouncer runs PgBouncer (Debian's pgbouncer) in front of c, in
// transaction pooling mode, on a free port, as c's user (it refuses to run
// as root), and returns its port. It is stopped when the test ends.
func startPgBouncer(t *testing.T, c *pgCluster) int {
	t.Helper()
	bouncer, err := exec.LookPath("pgbouncer")
	if err != nil {
		for _, p := range []string{"/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"} {
			if _, err := os.Stat(p); err == nil {
				bouncer = p
			}
		}
	}
	if bouncer == "" {
		t.Skip("pgbouncer is not installed (apt-get install pgbouncer)")
	}
	port := freePort(t)
	ini := filepath.Join(c.dir, "pgbouncer.ini")
	pidfile := filepath.Join(c.dir, "pgbouncer.pid")
	conf := fmt.Sprintf(`[databases]
postgres = host=127.0.0.1 port=%d dbname=postgres user=postgres

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = trust
auth_file = %s/userlist.txt
pool_mode = transaction
max_client_conn = 400
default_pool_size = 20
server_login_retry = 1
query_wait_timeout = 30
logfile = %s/pgbouncer.log
pidfile = %s
`, c.port, port, c.dir, c.dir, pidfile)
	c.run(t, "sh", "-c", fmt.Sprintf("cat > %s <<'EOF'\n%sEOF\necho '\"postgres\" \"\"' > %s/userlist.txt", ini, conf, c.dir))
	c.run(t, bouncer, "-d", ini)
	t.Cleanup(func() {
		b, err := os.ReadFile(pidfile)
		if err != nil {
			return
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			if p, err := os.FindProcess(pid); err == nil {
				_ = p.Signal(syscall.SIGTERM)
			}
		}
	})
	// Wait until it accepts connections.
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			conn.Close()
			return port
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(c.dir, "pgbouncer.log"))
			t.Fatalf("pgbouncer does not listen on %d: %v\n%s", port, err, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
