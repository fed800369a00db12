package closure_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gonixiso/gonixiso/closure"
	"github.com/gonixiso/gonixiso/internal/testsystem"

	_ "modernc.org/sqlite"
)

// TestDBWithRunningWriter: with a Nix-like writer in the middle of a write transaction on a
// WAL database, the read neither waits nor sees the uncommitted row, writes nothing to the
// database file, and the writer then commits unhindered.
func TestDBWithRunningWriter(t *testing.T) {
	top := testsystem.Toplevel(t)
	ctx := context.Background()

	// A consistent copy of the machine's database, made read-only.
	dbCopy := filepath.Join(t.TempDir(), "db.sqlite")
	src, err := sql.Open("sqlite", "file://"+closure.DefaultDBPath+"?mode=ro&_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.ExecContext(ctx, "VACUUM INTO ?", dbCopy); err != nil {
		t.Fatalf("copying the Nix database: %v", err)
	}
	src.Close()

	writer, err := sql.Open("sqlite", "file://"+dbCopy+"?_busy_timeout=10000&_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()
	conn, err := writer.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var mode string
	if err := conn.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal mode %q, %v; want wal", mode, err)
	}
	pending := "/nix/store/" + strings.Repeat("0", 32) + "-being-registered"
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, `INSERT INTO ValidPaths (path, hash, registrationTime, narSize)
		VALUES (?, 'sha256:0000000000000000000000000000000000000000000000000000000000000000', 0, 8)`, pending); err != nil {
		t.Fatal(err)
	}
	// Link the pending path from the toplevel, as a half-done registration might.
	if _, err := conn.ExecContext(ctx, `INSERT INTO Refs (referrer, reference)
		SELECT a.id, b.id FROM ValidPaths a, ValidPaths b WHERE a.path = ? AND b.path = ?`, top, pending); err != nil {
		t.Fatal(err)
	}

	before := fileSum(t, dbCopy)
	c := compute(t, []string{top}, closure.Options{Source: closure.SourceDB, DBPath: dbCopy})
	if _, ok := c.Lookup(pending); ok {
		t.Errorf("the read saw an uncommitted path")
	}
	samePaths(t, "copy vs machine", c.Paths, compute(t, []string{top}, closure.Options{Source: closure.SourceDB}).Paths)
	if fileSum(t, dbCopy) != before {
		t.Errorf("reading the database changed its file")
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		t.Fatalf("the writer could not commit after the read: %v", err)
	}
	// Committed, the new path is part of the closure.
	c = compute(t, []string{top}, closure.Options{Source: closure.SourceDB, DBPath: dbCopy})
	if _, ok := c.Lookup(pending); !ok {
		t.Errorf("the committed path is missing from the closure")
	}
}

func fileSum(t *testing.T, p string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

func TestDBErrors(t *testing.T) {
	top := testsystem.Toplevel(t)
	notDB := filepath.Join(t.TempDir(), "db.sqlite")
	os.WriteFile(notDB, []byte("not a database"), 0o644)
	for _, tc := range []struct{ db, want string }{
		{filepath.Join(t.TempDir(), "missing.sqlite"), "no such file"},
		{notDB, notDB},
	} {
		_, err := closure.Compute(context.Background(), []string{top}, closure.Options{Source: closure.SourceDB, DBPath: tc.db})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("DB %s: %v, want an error containing %q", tc.db, err, tc.want)
		}
	}
	// A path in the store but not registered in the database.
	s := newFakeStore(t)
	s.layout(t)
	_, err := closure.Compute(context.Background(), []string{s.paths["c"]}, closure.Options{Store: closure.Store{Dir: s.dir}, Source: closure.SourceDB})
	if err == nil || !strings.Contains(err.Error(), "is not a valid path") {
		t.Errorf("an unregistered root: %v", err)
	}
}
