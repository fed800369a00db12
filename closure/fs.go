package closure

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
)

// FS is a read-only view of the files a build may take from this machine: the store paths that
// allow admits, by their names in the store, with their symlinks followed within the store
// (Store.Follow); and the host files and folders the caller trusts (Trust), as they are.
// Anything else is refused with an error naming the path: a toplevel that names /etc/shadow as
// its kernel, or links to it, gets an error, not the file.
//
// Names are absolute paths without the leading slash, as io/fs has them
// ("nix/store/…-linux/bzImage"). FS implements fs.StatFS, fs.ReadDirFS and fs.ReadLinkFS; it
// records which store paths were read (Used). It is safe for concurrent use.
type FS struct {
	store   Store    // cleaned
	root    *os.Root // the store directory on this machine: store files are opened through it
	allow   func(storePath string) bool
	trusted []string // host paths, cleaned

	mu   sync.Mutex
	used map[string]bool
}

// FS returns a view of the store paths of s that allow admits (every store path for nil).
// Close it when done.
func (s Store) FS(allow func(storePath string) bool) (*FS, error) {
	s, err := s.clean()
	if err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(s.Real(s.Dir))
	if err != nil {
		return nil, fmt.Errorf("closure: store %s: %w", s.describe(), err)
	}
	if allow == nil {
		allow = func(string) bool { return true }
	}
	return &FS{store: s, root: root, allow: allow, used: map[string]bool{}}, nil
}

// Close releases the store directory.
func (f *FS) Close() error { return f.root.Close() }

// Trust adds host files or folders (absolute paths) that the view shows as they are, with
// their symlinks followed as the system follows them: files the user named (a splash image,
// a bootloader folder), not files a toplevel named.
func (f *FS) Trust(hostPaths ...string) {
	for _, p := range hostPaths {
		if p != "" {
			f.trusted = append(f.trusted, path.Clean(p))
		}
	}
}

// Used returns the store paths whose files were read through the view, sorted.
func (f *FS) Used() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, 0, len(f.used))
	for p := range f.used {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// A target is where a name leads: a path in the store by name (inStore), or a trusted host
// path.
type target struct {
	p       string
	inStore bool
}

// rel is a store target's path below the store directory, for f.root.
func (f *FS) rel(t target) string { return strings.TrimPrefix(t.p, f.store.Dir+"/") }

// resolve finds where name leads, its last symlink followed if follow is set.
func (f *FS) resolve(op, name string, follow bool) (target, error) {
	if !fs.ValidPath(name) || name == "." {
		return target{}, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	p := "/" + name
	if p == f.store.Dir || strings.HasPrefix(p, f.store.Dir+"/") {
		var lp string
		var err error
		if follow {
			lp, err = f.store.follow(p)
		} else if dir, base := path.Split(p); path.Clean(dir) == f.store.Dir {
			lp = p // a store path itself: its own entry
			err = CheckStorePath(p, f.store.Dir)
		} else if lp, err = f.store.follow(dir); err == nil {
			lp = lp + "/" + base
		}
		if err != nil {
			return target{}, &fs.PathError{Op: op, Path: p, Err: err}
		}
		sp, _ := storePathOf(lp, f.store.Dir)
		if !f.allow(sp) {
			return target{}, &fs.PathError{Op: op, Path: p, Err: fmt.Errorf("%w: store path %s is not in the closure", ErrOutsideStore, sp)}
		}
		f.mu.Lock()
		f.used[sp] = true
		f.mu.Unlock()
		return target{p: lp, inStore: true}, nil
	}
	for _, t := range f.trusted {
		if p == t || strings.HasPrefix(p, t+"/") {
			return target{p: p}, nil
		}
	}
	return target{}, &fs.PathError{Op: op, Path: p, Err: fmt.Errorf("%w %s, and not a file given for this build", ErrOutsideStore, f.store.describe())}
}

// Open opens the file name leads to, following symlinks.
func (f *FS) Open(name string) (fs.File, error) {
	t, err := f.resolve("open", name, true)
	if err != nil {
		return nil, err
	}
	if !t.inStore {
		return os.Open(t.p)
	}
	file, err := f.root.Open(f.rel(t))
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: "/" + name, Err: errors.Unwrap(err)}
	}
	return file, nil
}

// Stat describes the file name leads to, following symlinks.
func (f *FS) Stat(name string) (fs.FileInfo, error) {
	t, err := f.resolve("stat", name, true)
	if err != nil {
		return nil, err
	}
	if !t.inStore {
		return os.Stat(t.p)
	}
	fi, err := f.root.Lstat(f.rel(t)) // no symlink is left to follow
	if err != nil {
		return nil, &fs.PathError{Op: "stat", Path: "/" + name, Err: errors.Unwrap(err)}
	}
	return fi, nil
}

// Lstat describes name itself, a symlink not followed.
func (f *FS) Lstat(name string) (fs.FileInfo, error) {
	t, err := f.resolve("lstat", name, false)
	if err != nil {
		return nil, err
	}
	if !t.inStore {
		return os.Lstat(t.p)
	}
	fi, err := f.root.Lstat(f.rel(t))
	if err != nil {
		return nil, &fs.PathError{Op: "lstat", Path: "/" + name, Err: errors.Unwrap(err)}
	}
	return fi, nil
}

// ReadLink returns the target of the symlink name.
func (f *FS) ReadLink(name string) (string, error) {
	t, err := f.resolve("readlink", name, false)
	if err != nil {
		return "", err
	}
	if !t.inStore {
		return os.Readlink(t.p)
	}
	target, err := f.root.Readlink(f.rel(t))
	if err != nil {
		return "", &fs.PathError{Op: "readlink", Path: "/" + name, Err: errors.Unwrap(err)}
	}
	return target, nil
}

// ReadDir lists the directory name leads to, sorted by name.
func (f *FS) ReadDir(name string) ([]fs.DirEntry, error) {
	file, err := f.Open(name)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	dir, ok := file.(fs.ReadDirFile)
	if !ok {
		return nil, &fs.PathError{Op: "readdir", Path: "/" + name, Err: errors.New("not a directory")}
	}
	ents, err := dir.ReadDir(-1)
	slices.SortFunc(ents, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return ents, err
}

// EvalSymlinks returns the name that name leads to, with no symlinks left: a name in the store
// for a store file, the name itself for a trusted host file.
func (f *FS) EvalSymlinks(name string) (string, error) {
	t, err := f.resolve("evalsymlinks", name, true)
	if err != nil {
		return "", err
	}
	return strings.TrimPrefix(t.p, "/"), nil
}

// HostPath returns where the file name leads to is on this machine: for a store file, its
// place under the store's root with every symlink resolved.
func (f *FS) HostPath(name string) (string, error) {
	t, err := f.resolve("hostpath", name, true)
	if err != nil {
		return "", err
	}
	if !t.inStore {
		return t.p, nil
	}
	return f.store.Real(t.p), nil
}
