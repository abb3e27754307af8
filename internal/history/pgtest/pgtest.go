// Package pgtest starts a private PostgreSQL server for tests: Debian's postgresql
// binaries, a fresh cluster in a temporary directory, listening only on a unix socket
// there, stopped and removed when the test ends.
package pgtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
)

// Server is a running test server.
type Server struct {
	// SocketDir holds the server's unix socket.
	SocketDir string
	cmd       *exec.Cmd
}

// binDir finds the newest installed PostgreSQL's bin directory.
func binDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	var ok []string
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
			ok = append(ok, d)
		}
	}
	if len(ok) == 0 {
		return "", errors.New("no PostgreSQL server under /usr/lib/postgresql: apt-get install postgresql (scripts/install-deps.sh)")
	}
	sort.Slice(ok, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(ok[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(ok[j])))
		return vi < vj
	})
	return ok[len(ok)-1], nil
}

// Start runs a server for the test; the test skips (with the reason) where PostgreSQL
// is not installed, and fails on anything else.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := binDir()
	if err != nil {
		t.Skip(err.Error())
	}
	// The server refuses to run as root: it runs as Debian's postgres user.
	pg, err := user.Lookup("postgres")
	if err != nil {
		t.Skipf("no postgres user (%v): apt-get install postgresql (scripts/install-deps.sh)", err)
	}
	uid, _ := strconv.Atoi(pg.Uid)
	gid, _ := strconv.Atoi(pg.Gid)
	root, err := os.MkdirTemp("", "isobench-pgtest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	data, sock := filepath.Join(root, "data"), filepath.Join(root, "sock")
	for _, d := range []string{data, sock} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(d, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	asPostgres := &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "isobench", "--auth=trust", "-E", "UTF8", "--no-instructions")
	initdb.SysProcAttr = asPostgres
	initdb.Dir = root
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	srv := exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-k", sock, "-c", "listen_addresses=",
		"-c", "fsync=off", "-c", "max_connections=20")
	srv.SysProcAttr = &syscall.SysProcAttr{Credential: asPostgres.Credential, Setpgid: true,
		// A test binary killed outright takes the server with it.
		Pdeathsig: syscall.SIGQUIT}
	srv.Dir = root
	logf, err := os.Create(filepath.Join(root, "server.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	srv.Stdout, srv.Stderr = logf, logf
	if err := srv.Start(); err != nil {
		t.Fatalf("starting postgres: %v", err)
	}
	s := &Server{SocketDir: sock, cmd: srv}
	t.Cleanup(func() { s.stop(t) })
	deadline := time.Now().Add(30 * time.Second)
	for {
		db, err := sql.Open("pgx", s.URL("postgres"))
		if err == nil {
			err = db.PingContext(context.Background())
			db.Close()
		}
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(root, "server.log"))
			t.Fatalf("postgres did not come up: %v\n%s", err, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return s
}

// URL is the connection URL of database name on the server.
func (s *Server) URL(name string) string {
	return fmt.Sprintf("postgres://isobench@/%s?host=%s&sslmode=disable", name, s.SocketDir)
}

// NewDatabase creates an empty database and returns its URL.
func (s *Server) NewDatabase(t testing.TB, name string) string {
	t.Helper()
	db, err := sql.Open("pgx", s.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE DATABASE "` + name + `"`); err != nil {
		t.Fatalf("creating database %s: %v", name, err)
	}
	return s.URL(name)
}

// stop asks for a fast shutdown and waits; the server is killed if it lingers.
func (s *Server) stop(t testing.TB) {
	if err := s.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Errorf("stopping postgres: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		if err := syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL); err != nil {
			t.Errorf("killing postgres: %v", err)
		}
		<-done
		t.Errorf("postgres did not stop within 30s of SIGINT; killed it")
	}
}
