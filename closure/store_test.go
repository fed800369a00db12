package closure_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/gonixiso/gonixiso/closure"
	"github.com/gonixiso/gonixiso/internal/testsystem"
)

// hostileStore lays out a store whose paths link every way a toplevel can: within a path, to
// another path by relative and absolute links, and out of the store by absolute links, by
// climbing with "..", by a link to a store entry that is not a store path, and in a loop.
func hostileStore(t *testing.T) (*fakeStore, string) {
	t.Helper()
	s := newFakeStore(t)
	a, b := s.paths["a"], s.paths["b"]
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("host secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.file(t, b+"/boot/bzImage", []byte("kernel"), 0o444)
	s.file(t, a+"/etc/os-release", []byte("NAME=NixOS\n"), 0o444)
	s.file(t, s.dir+"/not-a-store-path", []byte("x"), 0o444)
	for link, target := range map[string]string{
		a + "/kernel":        b + "/boot/bzImage",                        // absolute, to another path
		a + "/kernel-rel":    "../" + filepath.Base(b) + "/boot/bzImage", // relative, to another path
		a + "/etc-link":      "etc",                                      // relative, within the path
		a + "/chain":         "kernel",                                   // a link to a link
		a + "/shadow":        secret,                                     // absolute, out of the store
		a + "/climb":         "../../../../../../../../.." + secret,
		a + "/not-store":     "../not-a-store-path",
		a + "/loop1":         "loop2",
		a + "/loop2":         "loop1",
		a + "/dir-to-secret": filepath.Dir(secret),
		s.paths["c"]:         secret, // a store path that is itself a link out
	} {
		symlink(t, target, link)
	}
	return s, secret
}

func TestFollow(t *testing.T) {
	s, secret := hostileStore(t)
	st := closure.Store{Dir: s.dir}
	a, b := s.paths["a"], s.paths["b"]
	for _, tc := range []struct{ p, want string }{
		{a + "/kernel", b + "/boot/bzImage"},
		{a + "/kernel-rel", b + "/boot/bzImage"},
		{a + "/chain", b + "/boot/bzImage"},
		{a + "/etc-link/os-release", a + "/etc/os-release"},
		{a + "/etc/../etc/os-release", a + "/etc/os-release"},
		{b, b},
	} {
		if got, err := st.Follow(tc.p); err != nil || got != tc.want {
			t.Errorf("Follow(%s) = %q, %v; want %s", tc.p, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ p, want string }{
		{a + "/shadow", "links to " + secret},
		{a + "/climb", "outside the store"},
		{a + "/not-store", "not a store path name"},
		{a + "/loop1", "too many levels"},
		{a + "/dir-to-secret/secret", "outside the store"},
		{s.paths["c"] + "/x", "outside the store"},
		{secret, "outside the store"},
		{s.dir, "outside the store"},
		{a + "/../..", "outside the store"},
		{a + "/missing", "no such file"},
		{a + "/etc/os-release/x", "not a directory"},
	} {
		got, err := st.Follow(tc.p)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.p) {
			t.Errorf("Follow(%s) = %q, %v; want an error naming it and saying %q", tc.p, got, err, tc.want)
		}
	}
}

// TestFS reads a hostile store through the view a build reads it through: store paths of the
// closure by name, links followed within the store, trusted host files, and nothing else.
func TestFS(t *testing.T) {
	s, secret := hostileStore(t)
	a, b, d := s.paths["a"], s.paths["b"], s.paths["d"]
	s.file(t, d+"/x", []byte("d"), 0o444)
	closurePaths := []string{a, b}
	fsys, err := closure.Store{Dir: s.dir}.FS(func(p string) bool { return slices.Contains(closurePaths, p) })
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	name := func(p string) string { return strings.TrimPrefix(p, "/") }

	data, err := fs.ReadFile(fsys, name(a+"/kernel"))
	if err != nil || string(data) != "kernel" {
		t.Errorf("ReadFile(a/kernel) = %q, %v", data, err)
	}
	if target, err := fsys.ReadLink(name(a + "/kernel")); err != nil || target != b+"/boot/bzImage" {
		t.Errorf("ReadLink(a/kernel) = %q, %v", target, err)
	}
	if fi, err := fsys.Lstat(name(a + "/kernel")); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("Lstat(a/kernel) = %v, %v; want a symlink", fi, err)
	}
	if got, err := fsys.EvalSymlinks(name(a + "/etc-link/os-release")); err != nil || got != name(a+"/etc/os-release") {
		t.Errorf("EvalSymlinks = %q, %v", got, err)
	}
	if got, err := fsys.HostPath(name(a + "/kernel-rel")); err != nil || got != b+"/boot/bzImage" {
		t.Errorf("HostPath = %q, %v", got, err)
	}
	for _, tc := range []struct{ p, want string }{
		{a + "/shadow", "outside the store"},
		{a + "/climb", "outside the store"},
		{d + "/x", "not in the closure"},
		{secret, "outside the store"},
		{"/etc/passwd", "outside the store"},
	} {
		_, err := fs.ReadFile(fsys, name(tc.p))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.p) ||
			!errors.Is(err, closure.ErrOutsideStore) {
			t.Errorf("ReadFile(%s): %v; want an error naming it and saying %q", tc.p, err, tc.want)
		}
	}
	if got := fsys.Used(); !slices.Equal(got, []string{a, b}) {
		t.Errorf("Used() = %v, want %v", got, []string{a, b})
	}

	// A trusted host folder shows as it is.
	fsys.Trust(filepath.Dir(secret))
	if data, err := fs.ReadFile(fsys, name(secret)); err != nil || string(data) != "host secret" {
		t.Errorf("trusted %s: %q, %v", secret, data, err)
	}
	// ...but a store link into it stays refused: trust is for names the caller gives.
	if _, err := fs.ReadFile(fsys, name(a+"/shadow")); err == nil {
		t.Errorf("a/shadow read through a trusted host folder")
	}
	if err := fstest.TestFS(subFS{fsys, name(b)}, "boot/bzImage"); err != nil {
		t.Error(err)
	}
}

// subFS is fs.Sub without its fallback to Open for ReadLink, so that fstest sees FS's own.
type subFS struct {
	fsys *closure.FS
	dir  string
}

func (s subFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	if name == "." {
		return s.fsys.Open(s.dir)
	}
	return s.fsys.Open(s.dir + "/" + name)
}

// TestStoreRoot reads a chroot store (nix --store ROOT): the test system's store under a root,
// read by its /nix/store names; the host's own /nix/store is never consulted.
func TestStoreRoot(t *testing.T) {
	root := storeRoot(t)
	top := testsystem.Toplevel(t)
	st := closure.Store{Root: root}
	// By name, by its place under the root, and through a result link to the name.
	link := filepath.Join(t.TempDir(), "result")
	symlink(t, top, link)
	for _, p := range []string{top, filepath.Join(root, top), link, filepath.Join(root, top, "boot.json")} {
		if got, err := st.Resolve(p); err != nil || got != top {
			t.Errorf("Resolve(%s) = %q, %v; want %s", p, got, err, top)
		}
	}
	kernel, err := st.Follow(top + "/kernel")
	if err != nil || !strings.HasPrefix(kernel, closure.DefaultStoreDir+"/") || !strings.HasSuffix(kernel, "/bzImage") {
		t.Fatalf("Follow(kernel) = %q, %v", kernel, err)
	}
	fsys, err := st.FS(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	if got, err := fsys.HostPath(strings.TrimPrefix(top+"/kernel", "/")); err != nil || got != filepath.Join(root, kernel) {
		t.Errorf("HostPath(kernel) = %q, %v; want it under %s", got, err, root)
	}
	// The root's copy is the one read: change it, and the view sees the change.
	victim := filepath.Join(root, top, "nixos-version")
	os.Chmod(filepath.Dir(victim), 0o755)
	os.Remove(victim)
	if err := os.WriteFile(victim, []byte("from the root"), 0o444); err != nil {
		t.Fatal(err)
	}
	if data, err := fs.ReadFile(fsys, strings.TrimPrefix(top+"/nixos-version", "/")); err != nil || string(data) != "from the root" {
		t.Errorf("nixos-version through the root: %q, %v", data, err)
	}
}
