package closure

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// A Store is a Nix store as this machine holds it: the directory its store paths are named by,
// and where their files are. The zero Store is the host's own store at /nix/store.
//
// Everything gonixiso reads of a system goes through one Store, so that a toplevel's files, its
// boot files and its closure all come from the same place, and nothing a toplevel names can
// lead a reader outside it (Follow).
type Store struct {
	// Dir is the store directory as store paths, references, bootspecs and symlinks name it;
	// "" means DefaultStoreDir.
	Dir string
	// Root, if not "" or "/", is the directory the store is kept under on this machine, as
	// Nix's local chroot stores keep it (nix --store ROOT): the files of Dir/x are at
	// ROOT/Dir/x and its database at ROOT/nix/var/nix/db/db.sqlite. Store paths keep their
	// names under Dir.
	Root string
}

// maxSymlinkHops bounds the symlinks Resolve and Follow follow, as the kernel's ELOOP does.
const maxSymlinkHops = 40

// clean checks the store's folders and returns it with Dir and Root cleaned and defaulted.
func (s Store) clean() (Store, error) {
	dir, err := cleanStoreDir(s.Dir)
	if err != nil {
		return Store{}, err
	}
	root := s.Root
	if root != "" {
		if !filepath.IsAbs(root) {
			return Store{}, fmt.Errorf("closure: store root %s is not absolute", root)
		}
		if root = filepath.Clean(root); root == "/" {
			root = ""
		}
	}
	return Store{Dir: dir, Root: root}, nil
}

// Check reports whether the store's folders are well formed: an absolute store directory
// other than /, and an absolute root if any.
func (s Store) Check() error {
	_, err := s.clean()
	return err
}

// StoreDir returns the store directory, DefaultStoreDir for "".
func (s Store) StoreDir() string {
	if s.Dir == "" {
		return DefaultStoreDir
	}
	return filepath.Clean(s.Dir)
}

// Real returns where the path p, a path in the store by the name the store gives it, is on
// this machine. It is lexical: it follows no symlinks.
func (s Store) Real(p string) string {
	if s.Root == "" || s.Root == "/" {
		return p
	}
	return filepath.Join(s.Root, p)
}

// DBPath returns the store's Nix database.
func (s Store) DBPath() string { return s.Real(DefaultDBPath) }

// StorePathOf returns the store path that p, a path in the store by name, is or is inside of.
// It is lexical.
func (s Store) StorePathOf(p string) (string, bool) {
	return storePathOf(path.Clean(p), s.StoreDir())
}

// Resolve returns the store path that p is or is inside of. p is a path on this machine: a
// store path or a path inside one (by its name, or by where it is under the root), or a
// symlink (a `result` link) or a chain of them that leads into the store. Symlinks are followed
// only until the path enters the store, so a path inside a store path names that store path
// even when it is itself a symlink to another. Errors name p.
func (s Store) Resolve(p string) (string, error) {
	s, err := s.clean()
	if err != nil {
		return "", err
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", fmt.Errorf("closure: %s: %w", p, err)
	}
	// Walk abs component by component, replacing symlinks by their targets, until the path is
	// in the store.
	rest := strings.Split(strings.TrimPrefix(abs, "/"), "/")
	cur := "/"
	for hops := 0; ; {
		if sp, ok := s.storePathOfHost(filepath.Join(append([]string{cur}, rest...)...)); ok {
			if _, err := os.Lstat(s.Real(sp)); err != nil {
				return "", fmt.Errorf("closure: %s: %w", p, err)
			}
			if err := CheckStorePath(sp, s.Dir); err != nil {
				return "", fmt.Errorf("closure: %s: %w", p, err)
			}
			return sp, nil
		}
		if len(rest) == 0 {
			return "", fmt.Errorf("closure: %s: not in the store %s (it resolves to %s)", p, s.describe(), cur)
		}
		next := filepath.Join(cur, rest[0])
		rest = rest[1:]
		fi, err := os.Lstat(next)
		if err != nil {
			return "", fmt.Errorf("closure: %s: %w", p, err)
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			cur = next
			continue
		}
		if hops++; hops > maxSymlinkHops {
			return "", fmt.Errorf("closure: %s: too many levels of symbolic links", p)
		}
		target, err := os.Readlink(next)
		if err != nil {
			return "", fmt.Errorf("closure: %s: %w", p, err)
		}
		// cur has no symlinks in it, so a relative target's ".." goes up from cur, as the
		// kernel does; an absolute one starts again at the root.
		if filepath.IsAbs(target) {
			cur = "/"
		}
		rest = append(strings.Split(strings.TrimPrefix(target, "/"), "/"), rest...)
	}
}

// storePathOfHost returns the store path that the host path p is or is inside of: under the
// root's copy of the store directory, or under the store directory by name.
func (s Store) storePathOfHost(p string) (string, bool) {
	if s.Root != "" {
		if rel, ok := strings.CutPrefix(p, s.Root+"/"); ok {
			if sp, ok := storePathOf("/"+rel, s.Dir); ok {
				return sp, true
			}
		}
	}
	return storePathOf(p, s.Dir)
}

// describe names the store in errors: its directory, and its root if it has one.
func (s Store) describe() string {
	if s.Root == "" || s.Root == "/" {
		return s.StoreDir()
	}
	return s.StoreDir() + " under " + s.Root
}

// ErrOutsideStore is wrapped by Follow's errors for paths that lead out of the store.
var ErrOutsideStore = errors.New("leads outside the store")

// Follow resolves the symlinks of p, a path in the store by name, within the store, and
// returns the path it leads to, with no symlinks left, by name. Absolute symlink targets are
// names in the store too (read under the root, if the store has one), and every step must stay
// inside a store path: a path that leads anywhere else, a store directory entry that is not a
// store path, or more than 40 symlinks is an error naming p. Follow reads only symlinks and
// directories of the store.
func (s Store) Follow(p string) (string, error) {
	s, err := s.clean()
	if err != nil {
		return "", err
	}
	lp, err := s.follow(p)
	if err != nil {
		return "", fmt.Errorf("closure: %s: %w", p, err)
	}
	return lp, nil
}

// follow is Follow in a cleaned store, with errors that do not name p.
func (s Store) follow(p string) (string, error) {
	rel, ok := strings.CutPrefix(path.Clean(p), s.Dir+"/")
	if !ok || !path.IsAbs(p) {
		return "", fmt.Errorf("%w %s", ErrOutsideStore, s.describe())
	}
	rest := strings.Split(rel, "/")
	cur := s.Dir // the path so far: by name, no symlinks, in the store
	for hops := 0; len(rest) > 0; {
		c := rest[0]
		rest = rest[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			cur = path.Dir(cur)
			if cur != s.Dir && !strings.HasPrefix(cur, s.Dir+"/") {
				return "", fmt.Errorf("%w: it goes up to %s", ErrOutsideStore, cur)
			}
			continue
		}
		next := cur + "/" + c
		if cur == s.Dir {
			if err := CheckStorePath(next, s.Dir); err != nil {
				return "", err
			}
		}
		fi, err := os.Lstat(s.Real(next))
		if err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return "", fmt.Errorf("%s: %w", next, err)
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			if len(rest) > 0 && !fi.IsDir() {
				return "", fmt.Errorf("%s is not a directory", next)
			}
			cur = next
			continue
		}
		if hops++; hops > maxSymlinkHops {
			return "", errors.New("too many levels of symbolic links")
		}
		target, err := os.Readlink(s.Real(next))
		if err != nil {
			return "", err
		}
		if path.IsAbs(target) {
			trel, ok := strings.CutPrefix(path.Clean(target), s.Dir+"/")
			if !ok {
				return "", fmt.Errorf("%w: %s links to %s", ErrOutsideStore, next, target)
			}
			cur = s.Dir
			rest = append(strings.Split(trel, "/"), rest...)
			continue
		}
		rest = append(strings.Split(target, "/"), rest...)
	}
	if cur == s.Dir {
		return "", errors.New("the store directory itself, not a path in a store path")
	}
	return cur, nil
}
