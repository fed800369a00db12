package closure_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gonixiso/gonixiso/closure"
	"github.com/gonixiso/gonixiso/internal/testsystem"
)

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

func TestResolve(t *testing.T) {
	top := testsystem.Toplevel(t)
	tmp := t.TempDir()
	symlink(t, top, filepath.Join(tmp, "result"))
	symlink(t, "result", filepath.Join(tmp, "l2"))
	symlink(t, "l2", filepath.Join(tmp, "l1"))
	symlink(t, "../result/init", filepath.Join(tmp, "sub", "up"))
	symlink(t, "/nix/store/"+strings.Repeat("z", 32)+"-missing", filepath.Join(tmp, "dangling"))
	symlink(t, "loop-b", filepath.Join(tmp, "loop-a"))
	symlink(t, "loop-a", filepath.Join(tmp, "loop-b"))

	for _, p := range []string{
		top,
		top + "/",
		filepath.Join(tmp, "result"), // a result link
		filepath.Join(tmp, "l1"),     // a chain of relative links
		filepath.Join(tmp, "sub", "up"),
		filepath.Join(tmp, "result", "specialisation", "alt"),
		top + "/kernel",                  // inside top, though itself a link to another store path
		top + "/specialisation/alt/init", // the same, two links deep
		top + "/no-such-file",            // inside a store path: the store path is what counts
	} {
		got, err := closure.Store{}.Resolve(p)
		if err != nil || got != top {
			t.Errorf("Resolve(%s) = %s, %v; want %s", p, got, err, top)
		}
	}
	t.Chdir(tmp)
	if got, err := (closure.Store{Dir: closure.DefaultStoreDir}).Resolve("result"); err != nil || got != top {
		t.Errorf("Resolve(result) in %s = %s, %v", tmp, got, err)
	}

	for _, tc := range []struct{ p, want string }{
		{"/etc", "not in the store"},
		{"/nix/store", "not in the store"},
		{filepath.Join(tmp, "nothing"), "no such file"},
		{filepath.Join(tmp, "dangling"), "no such file"},
		{filepath.Join(tmp, "loop-a"), "too many levels"},
	} {
		got, err := closure.Store{}.Resolve(tc.p)
		if err == nil || !strings.Contains(err.Error(), tc.p) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Resolve(%s) = %q, %v; want an error naming it and saying %q", tc.p, got, err, tc.want)
		}
	}
}

func TestResolveStoreDir(t *testing.T) {
	s := newFakeStore(t)
	s.layout(t)
	link := filepath.Join(t.TempDir(), "result")
	symlink(t, s.paths["a"], link)
	if got, err := (closure.Store{Dir: s.dir}).Resolve(link); err != nil || got != s.paths["a"] {
		t.Errorf("Resolve(%s, %s) = %s, %v; want %s", link, s.dir, got, err, s.paths["a"])
	}
	// a's share is a link into d: inside a, it is a.
	if got, err := (closure.Store{Dir: s.dir}).Resolve(s.paths["a"] + "/share/doc"); err != nil || got != s.paths["a"] {
		t.Errorf("Resolve(a/share/doc) = %s, %v", got, err)
	}
	// The same link, in another store dir's terms, is outside the store.
	if _, err := (closure.Store{Dir: "/nix/store"}).Resolve(link); err == nil || !strings.Contains(err.Error(), "not in the store") {
		t.Errorf("Resolve(%s, /nix/store): %v", link, err)
	}
	bad := s.dir + "/not-a-store-path"
	if _, err := (closure.Store{Dir: s.dir}).Resolve(bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("Resolve(%s): %v, want an error naming it", bad, err)
	}
	if _, err := (closure.Store{Dir: "relative"}).Resolve(link); err == nil {
		t.Errorf("a relative store dir was accepted")
	}
}
