package squash

import (
	"io/fs"
	"path/filepath"
)

// RegistrationName is the file at the root of a NixOS live store image from which the booted
// system registers the store's paths (nix-store --load-db < /nix/store/nix-path-registration).
const RegistrationName = "nix-path-registration"

// AddStoreRoot starts an image of a Nix store as NixOS's live ISO lays it out (mksquashfs
// nix-path-registration PATHS... -keep-as-directory -all-root -root-mode 0755): the root
// directory, mode 0755 with the image's time, in a segment of its own. Store paths follow with
// AddStorePath, and AddRegistration adds the registration file.
func (w *Writer) AddStoreRoot() error {
	if err := w.WriteHeader(&Header{Name: ".", Mode: fs.ModeDir | 0o755, ModTime: w.opts.ModTime}); err != nil {
		return err
	}
	return w.Flush()
}

// AddRegistration adds the registration file at the root, mode 0444 with the image's time, in
// a segment of its own. It may come after the store paths, which a caller may hash as it adds
// them (AddStorePathTee).
func (w *Writer) AddRegistration(registration []byte) error {
	t := w.opts.ModTime
	if err := w.WriteHeader(&Header{Name: RegistrationName, Mode: 0o444, ModTime: t, Size: int64(len(registration))}); err != nil {
		return err
	}
	if _, err := w.Write(registration); err != nil {
		return err
	}
	return w.Flush()
}

// AddStorePath adds the store path p as a top-level directory named by its base name, its
// files' modes and times kept, every owner root, as a segment of its own (Flush).
func (w *Writer) AddStorePath(p string) error {
	return w.AddStorePathTee(p, nil)
}

// AddStorePathTee is AddStorePath with each entry and its contents also given to tee as they
// are read, if tee is not nil: a caller can serialise and hash the path from the same reads.
func (w *Writer) AddStorePathTee(p string, tee Tee) error {
	if err := w.addTreeTee(filepath.Base(p), p, AllRoot, tee); err != nil {
		return err
	}
	return w.Flush()
}
