// Package embedded is the store.Store backend for a single machine: one
// SQLite file, through the pure-Go modernc.org/sqlite driver, so that a
// static binary needs no cgo.
//
// The CLI and running servers open the same file from separate processes.
// The file is in WAL mode, so readers never wait for the writer, and every
// write is one transaction that takes SQLite's write lock when it begins
// (BEGIN IMMEDIATE): a read-check-write such as Redeem or SwapKeySet sees
// no other process's write between its read and its write. A writer that
// finds the lock held waits up to the busy timeout, then fails with
// store.ErrUnavailable. SQLite's locks need a local file system: do not
// share the file over NFS.
//
// Expired rows are treated as absent at the now a caller passes. They are
// deleted by Prune, which CreateFamily (at the family's Created time) and
// AddFailure (at its now) also run, so the file stays as large as its live
// data plus what expired since the last login attempt.
package embedded

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/oauthkit/authserver/authserver/store"
)

var _ store.Store = (*Store)(nil)

// busyTimeout is how long a write waits for another connection or process
// to release the write lock before it fails with store.ErrUnavailable.
// Write transactions here last well under a millisecond, so only a stuck
// process (or a context that ends sooner) reaches it.
const busyTimeout = 5 * time.Second

// maxConns bounds the connection pool. Each connection has its own page
// cache; writes use one at a time (see Store.writeSem) and reads take well
// under a millisecond, so a few serve any number of goroutines.
const maxConns = 8

// Store is a store.Store on one SQLite file. It is safe for concurrent use
// by goroutines and by other processes opening the same file.
type Store struct {
	db *sql.DB
	// writeSem serialises this process's write transactions, so that they
	// queue here, without polling, rather than in SQLite's busy handler,
	// which sleeps in steps of up to 100 ms. Other processes still wait
	// in the busy handler.
	writeSem chan struct{}
	// Statements of the refresh path, prepared once per connection:
	// parsing SQL cost a third of a redemption.
	getFamily, rotate, rotatePruneAfter *sql.Stmt
}

// Open opens the SQLite file at path, creating it (mode 0600) and its
// parent directory (mode 0700) if needed, and brings its schema up to
// date.
func Open(path string) (*Store, error) {
	return open(path, busyTimeout)
}

// open is Open with the busy timeout as a parameter, for tests.
func open(path string, busy time.Duration) (*Store, error) {
	if path == "" {
		return nil, errors.New("open store: empty path")
	}
	// The driver cuts its parameters at the first '?', and treats a name
	// starting with "file:" as a URI (an absolute path never does).
	if strings.ContainsRune(path, '?') {
		return nil, fmt.Errorf("open store %s: path contains '?'", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("create store directory: %w", err)
	}
	if err := createFile(abs); err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", dsn(abs, busy))
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	s := &Store{db: db, writeSem: make(chan struct{}, 1)}
	if err := s.migrate(context.Background()); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if s.getFamily, err = db.Prepare(getFamilyQuery); err == nil {
		if s.rotate, err = db.Prepare(rotateQuery); err == nil {
			s.rotatePruneAfter, err = db.Prepare(rotatePruneAfterQuery)
		}
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	return s, nil
}

// createFile creates the database file with mode 0600 before SQLite does
// (SQLite would use 0644 less the umask; the WAL and shared-memory files
// copy the database file's mode). An existing file is not opened at all:
// closing any descriptor of a file drops the POSIX locks this process
// holds on it, which would silently break the locking of another Store on
// the same file.
func createFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create store file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("create store file: %w", err)
	}
	return nil
}

// dsn returns the driver's name for path. Every connection gets:
//   - busy_timeout first, so that the pragmas after it wait for a lock
//     instead of failing;
//   - journal_mode(WAL), so that the CLI and servers read while one writes;
//   - synchronous(NORMAL): in WAL mode a commit has been written to the
//     WAL file, in the kernel's page cache, before it is acknowledged, so
//     killing the process loses nothing acknowledged; only a power loss or
//     kernel crash may lose the last commits (never the file's
//     consistency). FULL would add an fsync per commit, which is the
//     latency of the disk on every refresh. That is the same bargain as
//     Redis' default appendfsync everysec, the other backend;
//   - _txlock=immediate: every transaction takes the write lock at BEGIN
//     (reads outside transactions are unaffected).
func dsn(path string, busy time.Duration) string {
	return path + fmt.Sprintf("?_pragma=busy_timeout(%d)", busy.Milliseconds()) +
		"&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate"
}

// migrations[i] brings the schema from version i to i+1; PRAGMA
// user_version holds the version of a file. Append, never edit.
var migrations = []string{
	`
CREATE TABLE users (
	name          TEXT PRIMARY KEY,
	id            TEXT NOT NULL UNIQUE,
	password_hash TEXT NOT NULL,
	disabled      INTEGER NOT NULL,
	claims        TEXT NOT NULL,    -- JSON object
	created       INTEGER NOT NULL  -- Unix microseconds, as every time here
);
CREATE TABLE families (
	id            TEXT PRIMARY KEY,
	user_id       TEXT NOT NULL,
	client_id     TEXT NOT NULL,
	scope         TEXT NOT NULL,    -- JSON array
	claims        TEXT NOT NULL,    -- JSON object
	created       INTEGER NOT NULL,
	last_used     INTEGER NOT NULL,
	idle_ttl      INTEGER NOT NULL, -- nanoseconds
	expires_at    INTEGER NOT NULL,
	expiry        INTEGER NOT NULL, -- Family.Expiry(): live while > now
	generation    INTEGER NOT NULL,
	current_hash  BLOB NOT NULL,
	previous_hash BLOB,
	sealed_next   BLOB
);
CREATE INDEX families_user ON families (user_id, created);
CREATE INDEX families_expiry ON families (expiry);
CREATE TABLE key_set (
	id      INTEGER PRIMARY KEY CHECK (id = 1),
	version INTEGER NOT NULL,
	data    BLOB NOT NULL
);
CREATE TABLE lockouts (
	key   TEXT PRIMARY KEY,
	count INTEGER NOT NULL,
	until INTEGER NOT NULL
);
CREATE INDEX lockouts_until ON lockouts (until);
CREATE TABLE revoked_tokens (
	jti   TEXT PRIMARY KEY,
	until INTEGER NOT NULL
);
CREATE INDEX revoked_tokens_until ON revoked_tokens (until);
`,
	// The credential version (store.User.CredentialVersion), and the scope
	// requested by a family's last rotation (JSON array; NULL for none).
	`
ALTER TABLE users ADD COLUMN credential_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE families ADD COLUMN credential_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE families ADD COLUMN rotation_scope TEXT;
`,
	idempotencyMigration,
	codesMigration,
	idempotencyETagMigration,
	pruneAfterMigration,
}

// migrate applies the migrations the file lacks, in one write transaction,
// so that processes opening a new file at once create the schema once.
func (s *Store) migrate(ctx context.Context) error {
	return s.write(ctx, "migrate schema", func(tx *sql.Tx) error {
		var version int
		if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
			return err
		}
		if version > len(migrations) {
			return fmt.Errorf("schema version %d is newer than this binary's %d", version, len(migrations))
		}
		for i := version; i < len(migrations); i++ {
			if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
				return fmt.Errorf("to version %d: %w", i+1, err)
			}
		}
		if version == len(migrations) {
			return nil
		}
		_, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", len(migrations)))
		return err
	})
}

// Ping reports whether the file can be read.
func (s *Store) Ping(ctx context.Context) error {
	var version int
	if err := s.db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return wrap("ping store", err)
	}
	return nil
}

// Close closes the file.
func (s *Store) Close() error {
	return s.db.Close()
}

// Prune deletes the families, lockout windows and revoked token ids that
// have expired at now.
func (s *Store) Prune(ctx context.Context, now time.Time) error {
	return s.write(ctx, "prune store", func(tx *sql.Tx) error {
		return prune(ctx, tx, now)
	})
}

func prune(ctx context.Context, tx *sql.Tx, now time.Time) error {
	n := micros(now)
	for _, q := range []string{
		"DELETE FROM families WHERE prune_after <= ?1 AND expiry <= ?1",
		"DELETE FROM lockouts WHERE until <= ?",
		"DELETE FROM revoked_tokens WHERE until <= ?",
	} {
		if _, err := tx.ExecContext(ctx, q, n); err != nil {
			return err
		}
	}
	return nil
}

// write runs fn in a write transaction and commits it if fn returns nil.
// Errors are wrapped as "op: ...".
func (s *Store) write(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	select {
	case s.writeSem <- struct{}{}:
	case <-ctx.Done():
		return wrap(op, ctx.Err())
	}
	defer func() { <-s.writeSem }()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return wrap(op, err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return wrap(op, err)
	}
	if err := tx.Commit(); err != nil {
		return wrap(op, err)
	}
	return nil
}

// wrap prefixes err with op and marks the errors of an unreachable backend
// (a lock held beyond the busy timeout, I/O errors, a full disk, an
// unreadable file, a closed database, a timeout) as store.ErrUnavailable.
func wrap(op string, err error) error {
	if unavailable(err) {
		return fmt.Errorf("%s: %w: %w", op, store.ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

func unavailable(err error) bool {
	// A call that ran out of time and a closed database (a server shutting
	// down) cannot serve now either; database/sql does not export the
	// error of a closed database.
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, sql.ErrConnDone) || err.Error() == "sql: database is closed" {
		return true
	}
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code() & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL,
		sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PROTOCOL, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_NOMEM:
		return true
	}
	return false
}

// isConstraint reports whether err is a UNIQUE or PRIMARY KEY violation.
func isConstraint(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

// Times are stored as Unix microseconds: the range covers the zero
// time.Time, which Unix nanoseconds do not.
func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }
