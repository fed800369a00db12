// Package livestore lays out the SquashFS of a NixOS live ISO's store as iso-image.nix makes it:
//
//	mksquashfs nix-path-registration PATHS... -keep-as-directory -all-root -root-mode 0755
//
// The image's root is the store directory: each store path is a top-level directory named by its
// base name, every owner root, and the registration file from which the booted system loads its
// Nix database sits beside them. Each part is a segment of its own (squash.Writer.Flush), so that
// a store path's segment can be cached and placed again.
//
// This is the pipeline's knowledge, not SquashFS's: squash is a general SquashFS library and
// knows nothing of Nix. The ISO path of the image and the registration file's name are in boot's
// table (boot.SquashFSPath, boot.RegistrationName).
package livestore

import (
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/gonixiso/gonixiso/boot"
	"github.com/gonixiso/gonixiso/internal/fsname"
	"github.com/gonixiso/gonixiso/squash"
)

// AddRoot starts the image: the root directory, mode 0755 (-root-mode 0755) with the time t, in a
// segment of its own.
func AddRoot(w *squash.Writer, t int64) error {
	if err := w.WriteHeader(&squash.Header{Name: ".", Mode: fs.ModeDir | 0o755, ModTime: t}); err != nil {
		return err
	}
	return w.Flush()
}

// AddPath adds the store path p as a top-level directory named by its base name
// (-keep-as-directory), its files' modes and times kept, every owner root (-all-root), as a
// segment of its own. tee, if not nil, sees the path as it is read (squash.Tee), so that a caller
// can hash it from the same reads.
func AddPath(w *squash.Writer, p string, tee squash.Tee) error {
	if err := w.AddTree(filepath.Base(p), p, storeEntry(p), tee); err != nil {
		return err
	}
	return w.Flush()
}

// storeEntry makes a header of the store path p's tree an entry of the image: owned by root
// (-all-root), and refused if it is neither a regular file, a directory nor a symlink, which
// is all a store path can hold (a NAR has nothing else): a FIFO or a device there was not made
// by Nix, and a FIFO's reader would wait forever on the booted system.
func storeEntry(p string) func(*squash.Header) error {
	return func(h *squash.Header) error {
		if t := h.Mode.Type(); t != 0 && t != fs.ModeDir && t != fs.ModeSymlink {
			return fmt.Errorf("livestore: %s: a store path cannot hold a %s (only files, directories and symlinks)",
				filepath.Join(filepath.Dir(p), h.Name), fsname.Type(t))
		}
		return squash.AllRoot(h)
	}
}

// AddRegistration adds the registration file at the root, mode 0444 with the time t, in a segment
// of its own. It may come after the store paths, which a caller may hash as it adds them.
func AddRegistration(w *squash.Writer, registration []byte, t int64) error {
	if err := w.WriteHeader(&squash.Header{Name: boot.RegistrationName, Mode: 0o444, ModTime: t, Size: int64(len(registration))}); err != nil {
		return err
	}
	if _, err := w.Write(registration); err != nil {
		return err
	}
	return w.Flush()
}

// CheckPath reports whether seg, a stored segment, describes the store path p as AddPath would add
// it now (squash.Segment.CheckTree).
func CheckPath(seg *squash.Segment, p string) error {
	return seg.CheckTree(filepath.Base(p), p, storeEntry(p))
}
