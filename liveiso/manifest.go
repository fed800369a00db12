package liveiso

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"sort"

	"github.com/gonixiso/gonixiso/internal/parallel"
	"github.com/gonixiso/gonixiso/squash"
)

// ManifestEntry is an entry of an ISO image's tree or of its SquashFS: what `gonixiso manifest`
// lists, one per line or as JSON, to compare builds and machines cheaply.
type ManifestEntry struct {
	// Path is the entry's path: in the ISO tree as the kernel mounts it (Rock Ridge names, else
	// Joliet names, else ISO 9660 names), or, for the SquashFS's entries, under StoreDir, as the
	// booted system sees them.
	Path string `json:"path"`
	// Type is "file", "directory", "symlink", "fifo", "socket", "block-device" or
	// "char-device".
	Type string `json:"type"`
	// Mode is the permission bits with setuid, setgid and sticky, in octal ("0444").
	Mode string `json:"mode"`
	// Size is a regular file's length, 0 for other entries.
	Size int64 `json:"size"`
	// SHA256 is a regular file's SHA-256 in hex.
	SHA256 string `json:"sha256,omitempty"`
	// Target is a symlink's target.
	Target string `json:"target,omitempty"`
}

// Manifest lists every entry of the ISO image at name, its ISO tree's and its SquashFS's,
// sorted by path bytewise, with the SHA-256 of every regular file. Files are hashed on every
// core; the result does not depend on their number. Files of the same data are read once, and
// a SquashFS whose distinct files hold more than its Limits' Contents is refused before any is
// read.
func Manifest(ctx context.Context, name string, limits ...Limits) ([]ManifestEntry, error) {
	im, err := openImage(name)
	if err != nil {
		return nil, err
	}
	defer im.Close()
	im.limit(limits)

	// An item is an entry, and for a regular file how to read its contents. Files with the same
	// data (key: ISO files' first hard link, SquashFS files' blocks) are read once: hard links cost no
	// more than one file, however many directory entries name them.
	type item struct {
		entry ManifestEntry
		open  func() (io.Reader, func(), error)
		key   any  // comparable; nil or "" for no data
		sq    bool // in the SquashFS
	}
	var items []item
	for _, e := range im.tree.Entries() {
		it := item{entry: ManifestEntry{Path: e.Path, Type: typeName(e.Mode), Mode: fmt.Sprintf("%04o", modeBits(e.Mode)),
			Target: e.Link}}
		if e.Mode.IsRegular() {
			it.entry.Size = e.Size
			it.key = im.dataKey(e)
			it.open = func() (io.Reader, func(), error) {
				f, err := im.img.Open(e)
				if err != nil {
					return nil, nil, err
				}
				return f, func() {}, nil
			}
		}
		items = append(items, it)
	}
	if im.sq != nil {
		r := im.sq
		err := r.Walk(func(p string, e *squash.Entry) error {
			full := StoreDir
			if p != "." {
				full += "/" + p
			}
			it := item{entry: ManifestEntry{Path: full, Type: typeName(e.Mode), Mode: fmt.Sprintf("%04o", modeBits(e.Mode)),
				Target: e.Linkname}, sq: true}
			if e.Mode.IsRegular() {
				it.entry.Size = e.Size
				id, err := r.DataID(e)
				if err != nil {
					return err
				}
				it.key = id
				// By the entry, not by its name, which may be any bytes but "/".
				it.open = func() (io.Reader, func(), error) {
					f, err := r.OpenEntry(e)
					if err != nil {
						return nil, nil, err
					}
					return f, func() { f.Close() }, nil
				}
			}
			items = append(items, it)
			return nil
		})
		if err != nil {
			return nil, im.sqErr(err)
		}
	}
	sort.SliceStable(items, func(i, j int) bool { return items[i].entry.Path < items[j].entry.Path })

	out := make([]ManifestEntry, len(items))
	first := map[any]int{} // the item that reads each key's data
	same := map[int]int{}  // items whose data another item reads
	for i := range items {
		out[i] = items[i].entry
		if k := items[i].key; k != nil && k != "" {
			if j, ok := first[k]; ok {
				same[i] = j
				items[i].open = nil
			} else {
				first[k] = i
			}
		}
	}
	if err := checkContents(im, func(yield func(path string, size int64) bool) {
		for _, it := range items {
			if it.sq && it.open != nil && !yield(it.entry.Path, it.entry.Size) {
				return
			}
		}
	}); err != nil {
		return nil, err
	}
	type hashed struct {
		i   int
		sum string
	}
	err = parallel.Ordered(ctx, parallel.Options{},
		func(emit func(int) error) error {
			for i := range items {
				if items[i].open != nil {
					if err := emit(i); err != nil {
						return err
					}
				}
			}
			return nil
		},
		func(i int) (hashed, error) {
			r, done, err := items[i].open()
			if err != nil {
				return hashed{}, fmt.Errorf("%s: %s: %w", name, items[i].entry.Path, err)
			}
			defer done()
			h := sha256.New()
			n, err := io.Copy(ctxWriter{ctx, h}, r)
			if err == nil && n != items[i].entry.Size {
				err = fmt.Errorf("read %d bytes, want %d", n, items[i].entry.Size)
			}
			if err != nil {
				return hashed{}, fmt.Errorf("%s: %s: %w", name, items[i].entry.Path, err)
			}
			return hashed{i, hex.EncodeToString(h.Sum(nil))}, nil
		},
		func(h hashed) error {
			out[h.i].SHA256 = h.sum
			return nil
		})
	if err != nil {
		return nil, err
	}
	for i, j := range same {
		out[i].SHA256 = out[j].SHA256
	}
	return out, nil
}

// checkContents refuses to read the SquashFS files sizes lists if they hold more than the
// SquashFS's Limits allow: a manifest reads them all, and the limit would stop it only once
// that many bytes were hashed.
func checkContents(im *isoImage, sizes func(yield func(path string, size int64) bool)) error {
	if im.sq == nil {
		return nil
	}
	limit := im.sq.Limits().Contents
	var total, largest int64
	var largestPath string
	files := 0
	for p, size := range sizes {
		files++
		total += size
		if size > largest {
			largest, largestPath = size, p
		}
		if total > limit {
			break
		}
	}
	if total <= limit {
		return nil
	}
	what := fmt.Sprintf("%s holds %d bytes, more", largestPath, largest)
	if files > 1 {
		what = fmt.Sprintf("%d files (the largest %s, %d bytes) hold more", files, largestPath, largest)
	}
	return fmt.Errorf("%s: %s: %s than the %d bytes of contents it may be read for (Limits.Contents, by default 32 times the SquashFS's size): %w",
		im.name, SquashFSPath, what, limit, squash.ErrLimit)
}

// ctxWriter fails its writes once ctx is done: hashing a file stops within a block of a
// cancellation, however long the file.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}
