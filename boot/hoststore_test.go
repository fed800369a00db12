package boot

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// hostStore shows boot's tests the whole machine, as it is: their fixtures are toplevels in
// temporary folders that link into the real store. What a pipeline shows boot, and what it
// refuses, is closure.FS's to test.
type hostStore struct{ fs.FS }

// HostStore is a Store of the whole machine, for boot's tests.
var HostStore Store = hostStore{os.DirFS("/")}

func (hostStore) EvalSymlinks(name string) (string, error) {
	p, err := filepath.EvalSymlinks("/" + name)
	return strings.TrimPrefix(p, "/"), err
}

func (hostStore) HostPath(name string) (string, error) { return filepath.EvalSymlinks("/" + name) }

func (h hostStore) Stat(name string) (fs.FileInfo, error) { return fs.Stat(h.FS, name) }

func (h hostStore) Lstat(name string) (fs.FileInfo, error) { return fs.Lstat(h.FS, name) }

func (h hostStore) ReadLink(name string) (string, error) { return fs.ReadLink(h.FS, name) }
