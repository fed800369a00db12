package closure

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"strings"

	_ "modernc.org/sqlite" // the pure-Go SQLite driver, "sqlite"
)

// dbBusyTimeout is how long, in milliseconds, a read waits for a lock Nix holds. In WAL mode,
// Nix's default, readers never wait; in rollback-journal mode they wait out a commit.
const dbBusyTimeout = 10000

// The Nix database's schema (src/libstore/schema.sql), the part of it read here:
//
//	ValidPaths(id integer primary key, path text unique, hash text -- "sha256:<base16>",
//	           registrationTime, deriver text, narSize integer, ultimate, sigs, ca)
//	Refs(referrer integer -> ValidPaths.id, reference integer -> ValidPaths.id)
const (
	// closureCTE is the set of ValidPaths ids reachable from the roots, bound as ?1...?n.
	closureCTE = `WITH RECURSIVE closure(id) AS (
	SELECT id FROM ValidPaths WHERE path IN (%s)
	UNION
	SELECT Refs.reference FROM Refs JOIN closure ON Refs.referrer = closure.id
)`
	queryPaths = closureCTE + `
SELECT ValidPaths.id, ValidPaths.path, ValidPaths.hash, ValidPaths.narSize, ValidPaths.deriver
FROM ValidPaths JOIN closure ON ValidPaths.id = closure.id`
	queryRefs = closureCTE + `
SELECT Refs.referrer, Refs.reference FROM Refs JOIN closure ON Refs.referrer = closure.id`
)

// fromDB reads the closure of roots from the Nix database at dbPath. It opens the database
// read-only with a busy timeout and reads in one read transaction: a consistent snapshot,
// which in WAL mode neither blocks nor waits for a running Nix.
func fromDB(ctx context.Context, roots []string, dbPath string) ([]Path, error) {
	if _, err := os.Stat(dbPath); err != nil {
		return nil, fmt.Errorf("nix database: %w", err)
	}
	dsn := (&url.URL{
		Scheme:   "file",
		Path:     dbPath,
		RawQuery: fmt.Sprintf("mode=ro&_busy_timeout=%d&_query_only=1", dbBusyTimeout),
	}).String()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("nix database %s: %w", dbPath, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)

	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("nix database %s: %w", dbPath, err)
	}
	defer tx.Rollback()

	args := make([]any, len(roots))
	for i, r := range roots {
		args[i] = r
	}
	marks := strings.TrimSuffix(strings.Repeat("?,", len(roots)), ",")

	rows, err := tx.QueryContext(ctx, fmt.Sprintf(queryPaths, marks), args...)
	if err != nil {
		return nil, fmt.Errorf("nix database %s: %w", dbPath, err)
	}
	var paths []Path
	byID := make(map[int64]int)
	for rows.Next() {
		var id int64
		var p Path
		var hash string
		var narSize sql.NullInt64
		var deriver sql.NullString
		if err := rows.Scan(&id, &p.Path, &hash, &narSize, &deriver); err != nil {
			rows.Close()
			return nil, fmt.Errorf("nix database %s: %w", dbPath, err)
		}
		if p.NarHash, err = ParseHash(hash); err != nil {
			rows.Close()
			return nil, fmt.Errorf("nix database %s: %s: %w", dbPath, p.Path, err)
		}
		if !narSize.Valid || narSize.Int64 < 0 {
			rows.Close()
			return nil, fmt.Errorf("nix database %s: %s: no NAR size recorded", dbPath, p.Path)
		}
		p.NarSize = uint64(narSize.Int64)
		p.Deriver = deriver.String
		byID[id] = len(paths)
		paths = append(paths, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("nix database %s: %w", dbPath, err)
	}
	rows.Close()
	have := make(map[string]bool, len(paths))
	for _, p := range paths {
		have[p.Path] = true
	}
	for _, r := range roots {
		if !have[r] {
			return nil, fmt.Errorf("nix database %s: %s is not a valid path", dbPath, r)
		}
	}

	rows, err = tx.QueryContext(ctx, fmt.Sprintf(queryRefs, marks), args...)
	if err != nil {
		return nil, fmt.Errorf("nix database %s: %w", dbPath, err)
	}
	defer rows.Close()
	for rows.Next() {
		var referrer, reference int64
		if err := rows.Scan(&referrer, &reference); err != nil {
			return nil, fmt.Errorf("nix database %s: %w", dbPath, err)
		}
		i, ok1 := byID[referrer]
		j, ok2 := byID[reference]
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("nix database %s: reference %d → %d outside the closure (database changed during the read?)", dbPath, referrer, reference)
		}
		paths[i].References = append(paths[i].References, paths[j].Path)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("nix database %s: %w", dbPath, err)
	}
	return paths, nil
}
