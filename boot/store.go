package boot

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
)

// A Store is where boot reads everything it takes from this machine: a system's toplevel, its
// kernels and initrds, its bootloaders, splash images and themes. The caller decides what it
// shows: gonixiso's pipeline gives the store paths of the system's closure, their symlinks
// followed within the store, and the host files the user named (closure.FS). A bootspec that
// names /etc/shadow as its kernel then gets an error, not the file.
//
// Names are absolute paths without the leading slash, as io/fs has them
// ("nix/store/…-linux/bzImage"); boot's own fields (System.Kernel, File.Source, ...) are the
// same paths with the slash.
type Store interface {
	fs.StatFS     // Open and Stat follow symlinks
	fs.ReadLinkFS // ReadLink and Lstat do not
	// EvalSymlinks returns the name that name leads to, with no symlinks left.
	EvalSymlinks(name string) (string, error)
	// HostPath returns where the file that name leads to is on this machine: for the programs
	// boot runs (grub-mkimage) and for the bytes of a Plan's files.
	HostPath(name string) (string, error)
}

// absStore is a Store whose errors name paths as boot's fields do, with the leading slash,
// whatever the Store underneath writes.
type absStore struct{ Store }

// withAbsPaths wraps st for boot's use; a Store wrapped already is returned as it is.
func withAbsPaths(st Store) Store {
	if _, ok := st.(absStore); ok {
		return st
	}
	return absStore{st}
}

// absErr makes a PathError's path absolute.
func absErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) && !path.IsAbs(pe.Path) {
		pe.Path = "/" + pe.Path
	}
	return err
}

func (a absStore) Open(name string) (fs.File, error) {
	f, err := a.Store.Open(name)
	return f, absErr(err)
}

func (a absStore) Stat(name string) (fs.FileInfo, error) {
	fi, err := a.Store.Stat(name)
	return fi, absErr(err)
}

func (a absStore) Lstat(name string) (fs.FileInfo, error) {
	fi, err := a.Store.Lstat(name)
	return fi, absErr(err)
}

func (a absStore) ReadLink(name string) (string, error) {
	t, err := a.Store.ReadLink(name)
	return t, absErr(err)
}

func (a absStore) EvalSymlinks(name string) (string, error) {
	n, err := a.Store.EvalSymlinks(name)
	return n, absErr(err)
}

func (a absStore) HostPath(name string) (string, error) {
	p, err := a.Store.HostPath(name)
	return p, absErr(err)
}

// fsName is the Store name of the absolute path p.
func fsName(p string) string { return strings.TrimPrefix(path.Clean(p), "/") }

// maxTextFile bounds the toplevel files boot reads into memory (boot.json, nixos-version,
// kernel-params, os-release, ...): a real one is a few kilobytes.
const maxTextFile = 1 << 20

// readText reads a small file of the store, at most maxTextFile bytes.
func readText(st Store, p string) ([]byte, error) {
	f, err := st.Open(fsName(p))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxTextFile+1))
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: p, Err: err}
	}
	if len(data) > maxTextFile {
		return nil, fmt.Errorf("%s: more than %d bytes", p, maxTextFile)
	}
	return data, nil
}

// statFile checks that p leads to a regular file and returns its description.
func statFile(st Store, p string) (fs.FileInfo, error) {
	fi, err := st.Stat(fsName(p))
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", p)
	}
	return fi, nil
}

func isFile(st Store, p string) bool {
	_, err := statFile(st, p)
	return err == nil
}

func isDir(st Store, p string) bool {
	fi, err := st.Stat(fsName(p))
	return err == nil && fi.IsDir()
}

// evalSymlinks is Store.EvalSymlinks for an absolute path.
func evalSymlinks(st Store, p string) (string, error) {
	n, err := st.EvalSymlinks(fsName(p))
	if err != nil {
		return "", err
	}
	return "/" + n, nil
}

// isNotExist tells a missing file from one the store refuses or cannot read.
func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
