package closure_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gonixiso/gonixiso/closure"
	"github.com/gonixiso/gonixiso/internal/testsystem"
)

func compute(t *testing.T, roots []string, opts closure.Options) *closure.Closure {
	t.Helper()
	c, err := closure.Compute(context.Background(), roots, opts)
	if err != nil {
		t.Fatalf("Compute(%v, %v): %v", roots, opts.Source, err)
	}
	return c
}

func registration(t *testing.T, c *closure.Closure) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := c.WriteRegistration(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// samePaths reports the first difference between two closures' paths, references, NAR hashes
// and NAR sizes.
func samePaths(t *testing.T, what string, got, want []closure.Path) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d paths, want %d:\n%v\n%v", what, len(got), len(want), pathNames(got), pathNames(want))
		return
	}
	for i := range got {
		g, w := got[i], want[i]
		switch {
		case g.Path != w.Path:
			t.Errorf("%s: path %d is %s, want %s", what, i, g.Path, w.Path)
		case g.NarHash != w.NarHash:
			t.Errorf("%s: %s: NAR hash %v, want %v", what, g.Path, g.NarHash, w.NarHash)
		case g.NarSize != w.NarSize:
			t.Errorf("%s: %s: NAR size %d, want %d", what, g.Path, g.NarSize, w.NarSize)
		case !slices.Equal(g.References, w.References):
			t.Errorf("%s: %s: references\n%v\nwant\n%v", what, g.Path, g.References, w.References)
		}
	}
}

func pathNames(ps []closure.Path) []string {
	var s []string
	for _, p := range ps {
		s = append(s, p.Path)
	}
	return s
}

// TestSourcesAgree: the Nix database, nix path-info and the native scan give the test system
// the same closure: paths, references, NAR hashes and sizes; and nix-store -qR the same paths.
func TestSourcesAgree(t *testing.T) {
	top := testsystem.Toplevel(t)
	db := compute(t, []string{top}, closure.Options{Source: closure.SourceDB})
	cli := compute(t, []string{top}, closure.Options{Source: closure.SourceCLI})
	scan := compute(t, []string{top}, closure.Options{Source: closure.SourceScan})
	for _, c := range []*closure.Closure{db, cli, scan} {
		if !slices.Equal(c.Roots, []string{top}) || c.StoreDir != closure.DefaultStoreDir {
			t.Errorf("%v: roots %v in %s, want [%s] in %s", c.Source, c.Roots, c.StoreDir, top, closure.DefaultStoreDir)
		}
	}
	if db.Source != closure.SourceDB || cli.Source != closure.SourceCLI || scan.Source != closure.SourceScan {
		t.Errorf("sources recorded as %v, %v, %v", db.Source, cli.Source, scan.Source)
	}
	if got, want := pathNames(db.Paths), testsystem.Closure(t, top); !slices.Equal(got, want) {
		t.Errorf("DB closure\n%v\nnix-store -qR\n%v", got, want)
	}
	if len(db.Paths) < 10 {
		t.Fatalf("the test system's closure has %d paths; expected its eleven", len(db.Paths))
	}
	samePaths(t, "cli vs db", cli.Paths, db.Paths)
	samePaths(t, "scan vs db", scan.Paths, db.Paths)
	// The sources that know derivers agree on them too; the scan knows none.
	for i := range db.Paths {
		if db.Paths[i].Deriver == "" || db.Paths[i].Deriver != cli.Paths[i].Deriver || scan.Paths[i].Deriver != "" {
			t.Errorf("%s: derivers db %q cli %q scan %q", db.Paths[i].Path, db.Paths[i].Deriver, cli.Paths[i].Deriver, scan.Paths[i].Deriver)
		}
	}
	var refs int
	for _, p := range db.Paths {
		refs += len(p.References)
	}
	if refs == 0 {
		t.Errorf("no references at all in the test system's closure")
	}
}

// TestRegistrationMatchesBaseline: the registration is byte for byte the one the nixpkgs way
// made (scripts/nixpkgs-iso, after closureInfo), whichever source answered.
func TestRegistrationMatchesBaseline(t *testing.T) {
	top := testsystem.Toplevel(t)
	want, err := os.ReadFile(filepath.Join(testsystem.BaselineParts(t), "nix-path-registration"))
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range []closure.Source{closure.SourceDB, closure.SourceCLI, closure.SourceScan} {
		got := registration(t, compute(t, []string{top}, closure.Options{Source: src}))
		if !bytes.Equal(got, want) {
			t.Errorf("%v: registration differs from the baseline's:\n%s\nwant:\n%s", src, got, want)
		}
	}
	// And it reads back to the same closure.
	c := compute(t, []string{top}, closure.Options{Source: closure.SourceDB})
	back, err := closure.ReadRegistration(bytes.NewReader(want))
	if err != nil {
		t.Fatal(err)
	}
	for i := range c.Paths {
		c.Paths[i].Deriver = ""
	}
	samePaths(t, "read back", back, c.Paths)
}

func TestAutoFallsBack(t *testing.T) {
	top := testsystem.Toplevel(t)
	if c := compute(t, []string{top}, closure.Options{}); c.Source != closure.SourceDB {
		t.Errorf("auto answered from %v, want db", c.Source)
	}
	missingDB := filepath.Join(t.TempDir(), "no", "db.sqlite")
	if c := compute(t, []string{top}, closure.Options{DBPath: missingDB}); c.Source != closure.SourceCLI {
		t.Errorf("auto without a database answered from %v, want cli", c.Source)
	}
	t.Setenv("PATH", t.TempDir()) // no nix
	c := compute(t, []string{top}, closure.Options{DBPath: missingDB})
	if c.Source != closure.SourceScan {
		t.Errorf("auto without a database or nix answered from %v, want scan", c.Source)
	}
	if _, err := closure.Compute(context.Background(), []string{top}, closure.Options{DBPath: missingDB, Source: closure.SourceCLI}); err == nil ||
		!strings.Contains(err.Error(), "nix") {
		t.Errorf("cli source without nix: %v", err)
	}
}

// TestReadDumpDB: ReadRegistration reads what `nix-store --dump-db` writes (base16 digests,
// derivers) to the closure the database holds.
func TestReadDumpDB(t *testing.T) {
	top := testsystem.Toplevel(t)
	want := compute(t, []string{top}, closure.Options{Source: closure.SourceDB})
	dump := run(t, nil, "nix-store", append([]string{"--dump-db"}, pathNames(want.Paths)...)...)
	got, err := closure.ReadRegistration(strings.NewReader(dump))
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(got, func(a, b closure.Path) int { return strings.Compare(a.Path, b.Path) })
	samePaths(t, "dump-db", got, want.Paths)
	for i := range got {
		if got[i].Deriver != want.Paths[i].Deriver {
			t.Errorf("%s: deriver %q, want %q", got[i].Path, got[i].Deriver, want.Paths[i].Deriver)
		}
	}
}
