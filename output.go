package gonixiso

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/gonixiso/gonixiso/closure"
	"github.com/gonixiso/gonixiso/internal/fsname"
)

// maxOutputLinks bounds the symlinks resolveOutput follows.
const maxOutputLinks = 40

// resolveOutput returns the file an ISO for out is written to: out itself, or the file a
// symlink at out leads to (which may not exist yet), with every symlink of its folder resolved,
// so that the temporary files go beside the real target and the rename replaces the target,
// not the link. It refuses a target that is not a regular file (a device, a FIFO, a folder: a
// rename would replace the node, not write to it) and a target inside the store, which would
// overwrite what the image is made from, unless inStore (a derivation writing its own output).
func resolveOutput(out string, store closure.Store, inStore bool) (string, error) {
	cur, err := filepath.Abs(out)
	if err != nil {
		return "", fmt.Errorf("output %s: %w", out, err)
	}
	for hops := 0; ; hops++ {
		fi, err := os.Lstat(cur)
		if errors.Is(err, fs.ErrNotExist) {
			break // a new file
		}
		if err != nil {
			return "", fmt.Errorf("output %s: %w", out, err)
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			if !fi.Mode().IsRegular() {
				return "", fmt.Errorf("output %s: %s is a %s; gonixiso writes a regular file and renames it into place", out, cur, fsname.Type(fi.Mode()))
			}
			break
		}
		if hops == maxOutputLinks {
			return "", fmt.Errorf("output %s: too many levels of symbolic links", out)
		}
		target, err := os.Readlink(cur)
		if err != nil {
			return "", fmt.Errorf("output %s: %w", out, err)
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(cur), target)
		}
		cur = target
	}
	dir, err := filepath.EvalSymlinks(filepath.Dir(cur))
	if err != nil {
		return "", fmt.Errorf("output %s: folder: %w", out, err)
	}
	target := filepath.Join(dir, filepath.Base(cur))
	storeDir := store.Real(store.StoreDir())
	if real, err := filepath.EvalSymlinks(storeDir); err == nil {
		storeDir = real
	}
	if target == storeDir || strings.HasPrefix(target, storeDir+"/") && !inStore {
		return "", fmt.Errorf("output %s: %s is inside the store %s, which the image is made from", out, target, storeDir)
	}
	return target, nil
}
