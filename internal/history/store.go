// Package history keeps runs in a database, so that a metric's course over many runs
// can be drawn: an embedded SQLite file under the isobench home (pure Go, so the
// binary stays static) or a PostgreSQL server a team shares.
package history

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	// database/sql drivers: "pgx" and "sqlite".
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"
)

// DefaultFile is the SQLite database's name inside the isobench home.
const DefaultFile = "history.db"

// schemaVersion is the layout of the tables below; a database of another version is refused.
const schemaVersion = 1

var schema = []string{
	`CREATE TABLE IF NOT EXISTS isobench_history (version INTEGER NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS runs (
		run_id TEXT PRIMARY KEY,
		digest TEXT NOT NULL,
		started_ns BIGINT NOT NULL,
		finished_ns BIGINT NOT NULL,
		added_ns BIGINT NOT NULL,
		dir TEXT NOT NULL,
		hosts TEXT NOT NULL,
		isobench_version TEXT NOT NULL,
		isobench_commit TEXT NOT NULL,
		kernel TEXT NOT NULL,
		failures INTEGER NOT NULL,
		environment TEXT NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS labels (
		run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
		name TEXT NOT NULL,
		value TEXT NOT NULL,
		PRIMARY KEY (run_id, name))`,
	`CREATE TABLE IF NOT EXISTS series (
		run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
		host TEXT NOT NULL,
		runtime TEXT NOT NULL,
		class TEXT NOT NULL,
		emulated INTEGER NOT NULL,
		runtime_version TEXT NOT NULL,
		benchmark TEXT NOT NULL,
		metric TEXT NOT NULL,
		params TEXT NOT NULL,
		unit TEXT NOT NULL,
		better TEXT NOT NULL,
		n INTEGER NOT NULL,
		median DOUBLE PRECISION NOT NULL,
		ci_lo DOUBLE PRECISION NOT NULL,
		ci_hi DOUBLE PRECISION NOT NULL,
		vals TEXT NOT NULL,
		PRIMARY KEY (run_id, host, runtime, benchmark, metric, params))`,
	`CREATE INDEX IF NOT EXISTS series_by_metric ON series (benchmark, metric, runtime)`,
}

// Store is an open history database.
type Store struct {
	db       *sql.DB
	postgres bool
	// Where names the database in messages (a file path, or the server without password).
	Where string
}

// IsPostgresURL tells whether target names a PostgreSQL server rather than a SQLite file.
func IsPostgresURL(target string) bool {
	return strings.HasPrefix(target, "postgres://") || strings.HasPrefix(target, "postgresql://")
}

// Open opens (and, when new, creates) the database target names: a postgres:// or
// postgresql:// URL, else the path of a SQLite file.
func Open(ctx context.Context, target string) (*Store, error) {
	if target == "" {
		return nil, errors.New("opening history: no database given")
	}
	s := &Store{}
	var err error
	if IsPostgresURL(target) {
		u, perr := url.Parse(target)
		if perr != nil {
			return nil, fmt.Errorf("opening history: %q is not a URL: %w", redact(target), perr)
		}
		s.postgres, s.Where = true, redact(target)
		s.db, err = sql.Open("pgx", u.String())
	} else {
		path := strings.TrimPrefix(target, "sqlite:")
		if st, lerr := os.Lstat(path); lerr == nil && !st.Mode().IsRegular() {
			return nil, fmt.Errorf("opening history: %s is not a regular file (a symlink is not followed)", path)
		}
		if dir := filepath.Dir(path); dir != "" {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, fmt.Errorf("opening history: %w", err)
			}
		}
		s.Where = path
		// busy_timeout lets two adds wait for each other instead of failing.
		s.db, err = sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+
			"?_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)")
	}
	if err != nil {
		return nil, fmt.Errorf("opening history %s: %w", s.Where, err)
	}
	if !s.postgres {
		// One writer at a time is SQLite's model; one connection keeps it simple.
		s.db.SetMaxOpenConns(1)
	}
	if err := s.migrate(ctx); err != nil {
		s.db.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

func (s *Store) migrate(ctx context.Context) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("opening history %s: %w", s.Where, err)
	}
	defer tx.Rollback()
	if s.postgres {
		// Two first adds at once would both create the tables; one waits for the other.
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7150150116)`); err != nil {
			return fmt.Errorf("opening history %s: %w", s.Where, err)
		}
	}
	for _, stmt := range schema {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("creating history tables in %s: %w", s.Where, err)
		}
	}
	var versions []int
	rows, err := tx.QueryContext(ctx, `SELECT version FROM isobench_history`)
	if err != nil {
		return fmt.Errorf("reading history version of %s: %w", s.Where, err)
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return fmt.Errorf("reading history version of %s: %w", s.Where, err)
		}
		versions = append(versions, v)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading history version of %s: %w", s.Where, err)
	}
	switch {
	case len(versions) == 0:
		if _, err := tx.ExecContext(ctx, s.bind(`INSERT INTO isobench_history (version) VALUES (?)`), schemaVersion); err != nil {
			return fmt.Errorf("creating history in %s: %w", s.Where, err)
		}
	case len(versions) > 1 || versions[0] != schemaVersion:
		return fmt.Errorf("history %s has layout version %v, this isobench uses %d: use a matching isobench", s.Where, versions, schemaVersion)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("creating history in %s: %w", s.Where, err)
	}
	return nil
}

// bind turns the ? placeholders of q into PostgreSQL's $1, $2, ...
func (s *Store) bind(q string) string {
	if !s.postgres {
		return q
	}
	var b strings.Builder
	n := 0
	for _, c := range q {
		if c == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// redact drops the password from a URL, for messages.
func redact(target string) string {
	u, err := url.Parse(target)
	if err != nil {
		return "postgres://..."
	}
	return u.Redacted()
}
