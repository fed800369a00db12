// Package atomicfile makes files that appear whole or not at all: a File is written beside its
// target under a temporary name and renamed into place when complete (Commit), or removed
// (Abandon). It is the one way gonixiso writes an ISO, a temporary SquashFS and a cache entry.
//
// While a File is open it holds an exclusive lock (flock) on itself, so a later run can tell a
// live run's temporary files from those a killed run left behind (after SIGKILL nothing else
// removes them): CleanStale removes only unlocked ones.
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// tmpSuffix ends every temporary file's name; CleanStale removes only names of this shape.
const tmpSuffix = ".gonixiso-tmp"

// A File is a temporary file being written beside its target. It is an *os.File: write it,
// then Commit or Abandon it.
type File struct {
	*os.File
	target string
	done   bool
}

// Options tune a File.
type Options struct {
	// Kind is a word in the temporary name, telling what the file is ("squashfs", "iso", ...).
	Kind string
	// Sync makes Commit flush the file and its folder to the disk, so that the renamed file
	// survives a crash whole (cache entries); without it a crash may leave it short or missing.
	Sync bool
	// Mode is the file's permission bits once committed (default 0644).
	Mode fs.FileMode
}

// Create starts a file for target: ".<target's name>.<kind>.<random>.gonixiso-tmp" in target's
// folder, created empty, locked, and readable and writable.
func Create(target string, opts Options) (*File, error) {
	dir, base := filepath.Split(target)
	if dir == "" {
		dir = "."
	}
	kind := opts.Kind
	if kind == "" {
		kind = "part"
	}
	for range 16 {
		f, err := os.CreateTemp(dir, "."+base+"."+kind+".*"+tmpSuffix)
		if err != nil {
			return nil, err
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			f.Close()
			os.Remove(f.Name())
			return nil, fmt.Errorf("%s: lock: %w", f.Name(), err)
		}
		// A CleanStale of another run may have taken it for stale between the creation and
		// the lock: keep it only if the name still leads to it.
		if held, err := f.Stat(); err == nil {
			if named, err := os.Stat(f.Name()); err == nil && os.SameFile(held, named) {
				return &File{File: f, target: target}, nil
			}
		}
		f.Close()
	}
	return nil, fmt.Errorf("%s: cannot create a temporary file beside it", target)
}

// Target is the path the file becomes.
func (f *File) Target() string { return f.target }

// Commit renames the file into place at its target, with mode opts.Mode, and closes it.
func (f *File) Commit(opts Options) error {
	if f.done {
		return errors.New("atomicfile: " + f.target + ": already committed or abandoned")
	}
	mode := opts.Mode
	if mode == 0 {
		mode = 0o644
	}
	err := f.Chmod(mode)
	if err == nil && opts.Sync {
		err = f.Sync()
	}
	if err == nil {
		err = os.Rename(f.Name(), f.target)
	}
	if err != nil {
		f.Abandon()
		return fmt.Errorf("%s: %w", f.target, err)
	}
	f.done = true
	err = f.Close() // releases the lock, after the rename: no stale name to clean
	if err == nil && opts.Sync {
		err = syncDir(filepath.Dir(f.target))
	}
	if err != nil {
		return fmt.Errorf("%s: %w", f.target, err)
	}
	return nil
}

// Abandon removes the file. It may be called after Commit, as a deferred cleanup: then it does
// nothing.
func (f *File) Abandon() {
	if f.done {
		return
	}
	f.done = true
	os.Remove(f.Name()) // while still locked, so no cleaner of another run races for it
	f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return err
	}
	return nil
}

// CleanStale removes the temporary files that runs killed while making target left beside it:
// files of Create's naming for target that no live run holds. It returns the names removed.
func CleanStale(target string) ([]string, error) {
	dir, base := filepath.Split(target)
	if dir == "" {
		dir = "."
	}
	return clean(dir, func(name string) bool { return strings.HasPrefix(name, "."+base+".") })
}

// CleanStaleIn removes every stale temporary file of Create's naming in dir, whatever its
// target.
func CleanStaleIn(dir string) ([]string, error) {
	return clean(dir, func(string) bool { return true })
}

func clean(dir string, match func(name string) bool) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, e := range ents {
		name := e.Name()
		if !e.Type().IsRegular() || !strings.HasPrefix(name, ".") || !strings.HasSuffix(name, tmpSuffix) || !match(name) {
			continue
		}
		p := filepath.Join(dir, name)
		if removeIfUnlocked(p) {
			removed = append(removed, p)
		}
	}
	return removed, nil
}

// removeIfUnlocked removes p if no process holds its lock.
func removeIfUnlocked(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return false // a live run holds it
	}
	held, err := f.Stat()
	if err != nil {
		return false
	}
	if named, err := os.Lstat(p); err != nil || !os.SameFile(held, named) {
		return false
	}
	return os.Remove(p) == nil
}
