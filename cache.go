package gonixiso

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gonixiso/gonixiso/closure"
	"github.com/gonixiso/gonixiso/internal/atomicfile"
	"github.com/gonixiso/gonixiso/squash"
)

// Cache keeps each store path's compressed SquashFS data, so that a rebuild after a small
// configuration change compresses only the store paths that changed: a store path never changes
// once built, so its bytes need never be made twice.
//
// An entry is a store path's segment of the SquashFS data area (see squash.Writer.Flush): its
// compressed blocks and fragment blocks, and the description of its entries. It is keyed by the
// store path, its NAR hash, the compressor with its library's version, the block size and the
// layout version, so a warm rebuild gives the same bytes as a cold one. Entries are written to a
// temporary file and renamed into place, and carry a SHA-256 of their contents, checked before
// every use: a corrupt or truncated entry is reported, removed and rebuilt, never copied into an
// image. Several gonixiso runs may share a cache at once. Using an entry marks it recently used
// for GC.
type Cache struct {
	dir  string
	warn func(format string, args ...any)
}

// OpenCache opens a cache in dir; "" means $XDG_CACHE_HOME/gonixiso, or ~/.cache/gonixiso. It
// creates nothing: a cache that does not exist yet is empty, and the first entry stored makes
// its folder (see Prepare). warn, if not nil, is told about entries that had to be discarded
// and entries that could not be stored.
func OpenCache(dir string, warn func(format string, args ...any)) (*Cache, error) {
	if dir == "" {
		d, err := DefaultCacheDir()
		if err != nil {
			return nil, err
		}
		dir = d
	}
	if warn == nil {
		warn = func(string, ...any) {}
	}
	return &Cache{dir: dir, warn: warn}, nil
}

// Prepare makes the cache's folder if it does not exist, so that a build can tell at its start
// whether it can fill the cache at all.
func (c *Cache) Prepare() error {
	if err := os.MkdirAll(filepath.Join(c.dir, cacheSubdir), 0o755); err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	return nil
}

// DefaultCacheDir is $XDG_CACHE_HOME/gonixiso, or ~/.cache/gonixiso.
func DefaultCacheDir() (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("cache: no cache folder (set --cache or XDG_CACHE_HOME): %w", err)
	}
	return filepath.Join(base, "gonixiso"), nil
}

// Dir is the cache's folder.
func (c *Cache) Dir() string { return c.dir }

// The on-disk layout: <dir>/segments-v3/<2 hex>/<64 hex>.seg, each file:
//
//	magic        cacheMagic
//	key          32 bytes, the entry's key
//	descLen      u64
//	dataLen      u64
//	description  descLen bytes (squash.Segment.MarshalBinary)
//	data         dataLen bytes
//	sum          32 bytes, SHA-256 of everything before it
//
// and beside them <64 hex>.idx, a store path's index file (keys.byPath): two lines, the NAR
// hash of the entry last stored for the path and that entry's key in hex.
const (
	cacheSubdir    = "segments-v3"
	cacheMagic     = "gonixiso cache entry 1\n"
	cacheHeaderLen = len(cacheMagic) + sha256.Size + 8 + 8
	// cacheEntryVersion changes with the entry file's own layout; squash.LayoutVersion, also in
	// the key, with the bytes of a segment.
	cacheEntryVersion = 3
)

// cacheKey names a store path's entry for an image's settings.
type cacheKey [sha256.Size]byte

func (k cacheKey) String() string { return hex.EncodeToString(k[:]) }

func (c *Cache) path(k cacheKey) string {
	s := k.String()
	return filepath.Join(c.dir, cacheSubdir, s[:2], s+".seg")
}

// keys names the cache's entries for an image's settings: everything that changes a store
// path's bytes.
type keys struct{ settings string }

func keyer(comp squash.Compression, blockSize int) keys {
	if blockSize == 0 {
		blockSize = squash.DefaultBlockSize
	}
	return keys{fmt.Sprintf("gonixiso cache key %d\x00squash layout %d\x00%s\x00%d\x00%s",
		cacheEntryVersion, squash.LayoutVersion, comp, blockSize, compressLibVersions())}
}

// entry is the key of a store path's entry.
func (ks keys) entry(storePath string, narHash closure.Hash) cacheKey {
	return ks.sum(storePath, narHash.String())
}

// byPath is the key of a store path's index file, which holds the NAR hash of the entry last
// stored for it: a build that learns a path's NAR hash only by reading the path (a native
// scan) finds its entry from there, and reads the path once, to check that hash.
func (ks keys) byPath(storePath string) cacheKey {
	return ks.sum(storePath, "by path")
}

func (ks keys) sum(storePath, what string) cacheKey {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00", ks.settings, storePath, what)
	var k cacheKey
	h.Sum(k[:0])
	return k
}

// compressLibVersions names the Go compression modules this binary was built with: their
// encoders' output may change between versions.
func compressLibVersions() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	var v []string
	for _, d := range bi.Deps {
		switch d.Path {
		case "github.com/klauspost/compress", "github.com/ulikunitz/xz", "github.com/pierrec/lz4/v4":
			v = append(v, d.Path+"@"+d.Version)
		}
	}
	return strings.Join(v, ",")
}

// lookup returns the stored segment for key if there is a sound one that describes the store
// path as it is on disk, with its data file positioned at the data. A missing entry is a miss;
// a damaged one is reported, removed and a miss.
func (c *Cache) lookup(k cacheKey, storePath string) (*squash.Segment, *os.File, bool) {
	p := c.path(k)
	f, err := os.Open(p)
	if err != nil {
		return nil, nil, false
	}
	seg, dataAt, err := readEntry(f, k)
	if err == nil {
		err = matchesTree(seg, storePath)
	}
	if err == nil {
		_, err = f.Seek(dataAt, io.SeekStart)
	}
	if err != nil {
		f.Close()
		c.warn("cache: %s: %v; compressing %s again", p, err, storePath)
		os.Remove(p)
		return nil, nil, false
	}
	now := time.Now()
	os.Chtimes(p, now, now) // recently used, for gc
	return seg, f, true
}

// readEntry checks a cache file and decodes its segment; it returns the data's offset.
func readEntry(f *os.File, k cacheKey) (*squash.Segment, int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	if fi.Size() < int64(cacheHeaderLen+sha256.Size) {
		return nil, 0, errors.New("truncated entry")
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, fi.Size()-sha256.Size)); err != nil {
		return nil, 0, err
	}
	var sum [sha256.Size]byte
	if _, err := f.ReadAt(sum[:], fi.Size()-sha256.Size); err != nil {
		return nil, 0, err
	}
	if string(h.Sum(nil)) != string(sum[:]) {
		return nil, 0, errors.New("checksum mismatch (corrupt entry)")
	}
	head := make([]byte, cacheHeaderLen)
	if _, err := f.ReadAt(head, 0); err != nil {
		return nil, 0, err
	}
	if string(head[:len(cacheMagic)]) != cacheMagic {
		return nil, 0, errors.New("not a cache entry of this version")
	}
	rest := head[len(cacheMagic):]
	if string(rest[:sha256.Size]) != string(k[:]) {
		return nil, 0, errors.New("entry of another key")
	}
	descLen := binary.LittleEndian.Uint64(rest[sha256.Size:])
	dataLen := binary.LittleEndian.Uint64(rest[sha256.Size+8:])
	if uint64(fi.Size()) != uint64(cacheHeaderLen)+descLen+dataLen+sha256.Size {
		return nil, 0, errors.New("lengths do not match the file's size")
	}
	desc := make([]byte, descLen)
	if _, err := f.ReadAt(desc, int64(cacheHeaderLen)); err != nil {
		return nil, 0, err
	}
	seg := new(squash.Segment)
	if err := seg.UnmarshalBinary(desc); err != nil {
		return nil, 0, err
	}
	if uint64(seg.Size()) != dataLen {
		return nil, 0, errors.New("description and data lengths differ")
	}
	return seg, int64(cacheHeaderLen) + int64(descLen), nil
}

// matchesTree checks that a stored segment describes the store path as it is on disk: the same
// entries with the same types, modes, sizes, times and link targets. The NAR hash in the key
// covers contents; this covers what a NAR does not record, so that a warm build equals a cold one
// even for a store whose files are not canonical.
func matchesTree(seg *squash.Segment, storePath string) error {
	base := filepath.Base(storePath)
	i := 0
	err := filepath.WalkDir(storePath, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if i >= len(seg.Entries) {
			return fmt.Errorf("%s: not in the stored entry", p)
		}
		e := &seg.Entries[i]
		i++
		rel, _ := filepath.Rel(storePath, p)
		name := base
		if rel != "." {
			name = base + "/" + filepath.ToSlash(rel)
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		mode := fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky | fs.ModeType | fs.ModeCharDevice)
		switch {
		case e.Name != name:
			return fmt.Errorf("%s: stored as %q", p, e.Name)
		case e.Mode != mode:
			return fmt.Errorf("%s: mode %v, stored %v", p, mode, e.Mode)
		case e.ModTime != fi.ModTime().Unix():
			return fmt.Errorf("%s: modification time changed", p)
		case mode.IsRegular() && e.Size != fi.Size():
			return fmt.Errorf("%s: size changed", p)
		case mode&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if target != e.Linkname {
				return fmt.Errorf("%s: link target changed", p)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store path differs from the entry: %w", err)
	}
	if i != len(seg.Entries) {
		return fmt.Errorf("store path differs from the entry: %d entries on disk, %d stored", i, len(seg.Entries))
	}
	return nil
}

// store writes a store path's segment, whose data lies at seg.Start in the image file img, as its
// cache entry, and records the path's NAR hash and the entry's key in the path's index file. A
// failure to store is reported and does not fail the build.
func (c *Cache) store(ks keys, p *closure.Path, seg *squash.Segment, img *os.File) {
	k := ks.entry(p.Path, p.NarHash)
	err := c.write(k, seg, img)
	if err == nil {
		err = replaceFile(c.indexPath(ks.byPath(p.Path)), func(tmp *os.File) error {
			_, err := fmt.Fprintf(tmp, "%s\n%s\n", p.NarHash, k)
			return err
		})
	}
	if err != nil {
		c.warn("cache: cannot store %s: %v", p.Path, err)
	}
}

func (c *Cache) indexPath(k cacheKey) string {
	s := k.String()
	return filepath.Join(c.dir, cacheSubdir, s[:2], s+".idx")
}

// lastHash returns the NAR hash of the entry last stored for a store path, if any.
func (c *Cache) lastHash(ks keys, storePath string) (closure.Hash, bool) {
	b, err := os.ReadFile(c.indexPath(ks.byPath(storePath)))
	if err != nil {
		return closure.Hash{}, false
	}
	hash, _, _ := strings.Cut(string(b), "\n")
	h, err := closure.ParseHash(hash)
	if err != nil {
		c.warn("cache: index of %s: %v; ignoring it", storePath, err)
		return closure.Hash{}, false
	}
	return h, true
}

// replaceFile makes the file p by way of a temporary file beside it, which fill writes, and a
// rename: readers see the old file or the whole new one, never a part, even after a crash.
func replaceFile(p string, fill func(tmp *os.File) error) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	tmp, err := atomicfile.Create(p, atomicfile.Options{Kind: "cache"})
	if err != nil {
		return err
	}
	defer tmp.Abandon()
	if err := fill(tmp.File); err != nil {
		return err
	}
	return tmp.Commit(atomicfile.Options{Sync: true, Mode: 0o644})
}

func (c *Cache) write(k cacheKey, seg *squash.Segment, img *os.File) error {
	desc, err := seg.MarshalBinary()
	if err != nil {
		return err
	}
	return replaceFile(c.path(k), func(tmp *os.File) error { return writeEntry(tmp, k, desc, seg, img) })
}

// writeEntry writes an entry's file (see cacheSubdir) for a segment whose data lies in img.
func writeEntry(tmp *os.File, k cacheKey, desc []byte, seg *squash.Segment, img *os.File) error {
	h := sha256.New()
	w := io.MultiWriter(tmp, h)
	head := []byte(cacheMagic)
	head = append(head, k[:]...)
	head = binary.LittleEndian.AppendUint64(head, uint64(len(desc)))
	head = binary.LittleEndian.AppendUint64(head, uint64(seg.Size()))
	if _, err := w.Write(head); err != nil {
		return err
	}
	if _, err := w.Write(desc); err != nil {
		return err
	}
	// The data: copied by the kernel from the image file, then hashed from the copy.
	dataAt := int64(len(head) + len(desc))
	if err := copyRange(tmp, dataAt, img, seg.Start, seg.Size()); err != nil {
		return err
	}
	if _, err := io.Copy(h, io.NewSectionReader(tmp, dataAt, seg.Size())); err != nil {
		return err
	}
	_, err := tmp.WriteAt(h.Sum(nil), dataAt+seg.Size())
	return err
}

// copyRange copies n bytes from src at srcOff to dst at dstOff, with copy_file_range where the
// file systems allow it.
func copyRange(dst *os.File, dstOff int64, src *os.File, srcOff, n int64) error {
	for n > 0 {
		k, err := unix.CopyFileRange(int(src.Fd()), &srcOff, int(dst.Fd()), &dstOff, int(min(n, 1<<30)), 0)
		if err != nil {
			if errors.Is(err, syscall.EXDEV) || errors.Is(err, syscall.ENOSYS) || errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.EOPNOTSUPP) {
				_, err := io.Copy(io.NewOffsetWriter(dst, dstOff), io.NewSectionReader(src, srcOff, n))
				return err
			}
			return err
		}
		if k == 0 {
			return io.ErrUnexpectedEOF
		}
		n -= int64(k)
	}
	return nil
}

// CacheEntry is one entry of a cache, as Entries lists it.
type CacheEntry struct {
	Path     string
	Size     int64
	LastUsed time.Time
}

// Entries lists the cache's entries, least recently used first.
func (c *Cache) Entries() ([]CacheEntry, error) {
	var out []CacheEntry
	root := filepath.Join(c.dir, cacheSubdir)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed by a concurrent gc
			}
			return err
		}
		if d.IsDir() || !strings.HasSuffix(p, ".seg") {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		out = append(out, CacheEntry{Path: p, Size: fi.Size(), LastUsed: fi.ModTime()})
		return nil
	})
	sort.Slice(out, func(i, j int) bool {
		if !out[i].LastUsed.Equal(out[j].LastUsed) {
			return out[i].LastUsed.Before(out[j].LastUsed)
		}
		return out[i].Path < out[j].Path
	})
	return out, err
}

// GC removes least recently used entries until the cache holds at most maxSize bytes, and stale
// temporary files; it returns the number of entries and bytes removed.
func (c *Cache) GC(maxSize int64) (removed int, freed int64, err error) {
	entries, err := c.Entries()
	if err != nil {
		return 0, 0, err
	}
	var total int64
	for _, e := range entries {
		total += e.Size
	}
	for _, e := range entries {
		if total <= maxSize {
			break
		}
		if err := os.Remove(e.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return removed, freed, err
		}
		total -= e.Size
		freed += e.Size
		removed++
	}
	// Temporary files a killed run left (no live run holds them), and index files whose entry
	// is gone (an index file's second line is its entry's key).
	filepath.WalkDir(filepath.Join(c.dir, cacheSubdir), func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
		case d.IsDir():
			atomicfile.CleanStaleIn(p)
		case strings.HasSuffix(d.Name(), ".idx"):
			b, err := os.ReadFile(p)
			if err != nil {
				break
			}
			lines := strings.Split(string(b), "\n")
			var k cacheKey
			if len(lines) < 2 || len(lines[1]) != hex.EncodedLen(len(k)) {
				os.Remove(p)
				break
			}
			if _, err := hex.Decode(k[:], []byte(lines[1])); err != nil {
				os.Remove(p)
				break
			}
			if _, err := os.Stat(c.path(k)); errors.Is(err, fs.ErrNotExist) {
				os.Remove(p)
			}
		}
		return nil
	})
	return removed, freed, nil
}
