package squash

import (
	"errors"
	"io"
	"io/fs"
	"path"
	"time"
)

// This file is the image as an fs.FS (Reader.FS) and an Entry as an fs.FileInfo.

// fileInfo is an Entry as an fs.FileInfo.
type fileInfo struct{ e *Entry }

func (fi fileInfo) Name() string { return path.Base(fi.e.Name) }
func (fi fileInfo) Size() int64 {
	if fi.e.Mode&fs.ModeSymlink != 0 {
		return int64(len(fi.e.Linkname)) // as lstat(2) says
	}
	return fi.e.Size
}
func (fi fileInfo) Mode() fs.FileMode  { return fi.e.Mode }
func (fi fileInfo) ModTime() time.Time { return time.Unix(fi.e.ModTime, 0).UTC() }
func (fi fileInfo) IsDir() bool        { return fi.e.Mode.IsDir() }
func (fi fileInfo) Sys() any           { return fi.e }

// FS returns the image as an fs.FS, which also implements fs.StatFS, fs.ReadDirFS,
// fs.ReadFileFS and fs.ReadLinkFS. Open does not follow symlinks (see Reader.Open), so Stat
// and Lstat agree.
func (r *Reader) FS() fs.FS { return fsys{r} }

type fsys struct{ r *Reader }

var (
	_ fs.StatFS     = fsys{}
	_ fs.ReadDirFS  = fsys{}
	_ fs.ReadFileFS = fsys{}
	_ fs.ReadLinkFS = fsys{}
)

func (s fsys) Open(name string) (fs.File, error) {
	f, err := s.r.Open(name)
	if err != nil {
		return nil, err
	}
	return f, nil
}

func (s fsys) Stat(name string) (fs.FileInfo, error) {
	e, err := s.r.Lookup(name)
	if err != nil {
		return nil, relabel(err, "stat")
	}
	return fileInfo{e}, nil
}

func (s fsys) Lstat(name string) (fs.FileInfo, error) {
	e, err := s.r.Lookup(name)
	if err != nil {
		return nil, relabel(err, "lstat")
	}
	return fileInfo{e}, nil
}

func (s fsys) ReadLink(name string) (string, error) {
	e, err := s.r.Lookup(name)
	if err != nil {
		return "", relabel(err, "readlink")
	}
	if e.Mode&fs.ModeSymlink == 0 {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	return e.Linkname, nil
}

func (s fsys) ReadDir(name string) ([]fs.DirEntry, error) {
	f, err := s.r.Open(name)
	if err != nil {
		return nil, relabel(err, "readdir")
	}
	defer f.Close()
	return f.ReadDir(-1)
}

func (s fsys) ReadFile(name string) ([]byte, error) {
	f, err := s.r.Open(name)
	if err != nil {
		return nil, relabel(err, "readfile")
	}
	defer f.Close()
	if err := f.readable(); err != nil {
		return nil, err
	}
	b := make([]byte, f.size())
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, err
	}
	return b, nil
}

func relabel(err error, op string) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		pe.Op = op
	}
	return err
}
