// Package cache keeps the compressed SquashFS segments of store paths between builds, so that a
// rebuild after a small configuration change compresses only the store paths that changed: a
// store path never changes once built, so its bytes need never be made twice.
//
// The cache stores opaque entries under keys: an entry is a description and data (for gonixiso,
// a squash.Segment's MarshalBinary and its bytes of the image), and the caller makes the key of
// everything that changes those bytes (squash.Options.SegmentKey, the store path, its NAR hash).
// It knows nothing of SquashFS or Nix.
//
// Entries are written to a temporary file and renamed into place (internal/atomicfile), and
// carry a CRC-32C of their contents, checked before every use: a corrupt or truncated entry is
// reported, removed and a miss, never given out. Several processes may share a cache at once.
// Reading an entry marks it recently used, for GC. Notes are small values beside the entries (the
// NAR hash last stored for a store path), removed by GC when the entry they name is gone.
package cache

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gonixiso/gonixiso/internal/atomicfile"
)

// Version numbers the cache's own formats: the folder, the entry file and the keys. Entries of
// another version are not read (they are in another folder), and GC of a cache leaves them be.
const Version = 5

// The on-disk layout: <dir>/v5/<2 hex>/<64 hex>.entry, each file:
//
//	magic        entryMagic
//	key          32 bytes, the entry's key
//	descLen      u64
//	dataLen      u64
//	description  descLen bytes
//	data         dataLen bytes
//	sum          4 bytes, CRC-32C (Castagnoli, little-endian) of everything before it
//
// The sum guards against damage, not against someone who can write the cache (who could write
// a sum too): so a checksum that reads at memory speed, as btrfs's and ext4's, rather than a
// cryptographic hash, which cost a warm rebuild of a 2 GB closure 0.5 CPU seconds for its 750
// MB of entries. An entry from another machine (a segment derivation's output, through a
// binary cache) comes as a store path, which Nix checks against its NAR hash.
//
// and <64 hex>.note, a note: the key of the entry it goes with in hex, a newline, the value.
var (
	subdir     = fmt.Sprintf("v%d", Version)
	entryMagic = fmt.Sprintf("gonixiso cache entry v%d\n", Version)
)

const (
	entrySuffix = ".entry"
	noteSuffix  = ".note"
	// maxDesc bounds an entry's description, read into memory: a segment's description is a
	// few bytes per file of a store path.
	maxDesc = 1 << 30
	// maxNote bounds a note.
	maxNote = 64 << 10
)

func headerLen() int { return len(entryMagic) + len(Key{}) + 8 + 8 }

// sumSize is the length of an entry's checksum; castagnoli its polynomial's table.
const sumSize = 4

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// checksum continues the CRC-32C sum over r's n bytes from off.
func checksum(sum uint32, r io.ReaderAt, off, n int64) (uint32, error) {
	buf := make([]byte, min(n, 1<<20))
	for n > 0 {
		k := min(n, int64(len(buf)))
		if _, err := r.ReadAt(buf[:k], off); err != nil {
			return 0, err
		}
		sum = crc32.Update(sum, castagnoli, buf[:k])
		off, n = off+k, n-k
	}
	return sum, nil
}

// A Cache is a folder of entries.
type Cache struct {
	dir  string
	warn func(format string, args ...any)
}

// Open opens the cache in dir; "" means DefaultDir. It creates nothing: a cache that does not
// exist yet is empty, and Put makes its folders (or Prepare, to learn at once whether it can).
// warn, if not nil, is told about entries that had to be discarded.
func Open(dir string, warn func(format string, args ...any)) (*Cache, error) {
	if dir == "" {
		d, err := DefaultDir()
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

// DefaultDir is $XDG_CACHE_HOME/gonixiso, or ~/.cache/gonixiso.
func DefaultDir() (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("cache: no cache folder (set --cache or XDG_CACHE_HOME): %w", err)
	}
	return filepath.Join(base, "gonixiso"), nil
}

// Dir is the cache's folder.
func (c *Cache) Dir() string { return c.dir }

// Warnf reports a problem with the cache that its user should see, through Open's warn.
func (c *Cache) Warnf(format string, args ...any) { c.warn(format, args...) }

// Prepare makes the cache's folder if it does not exist, so that a build learns at its start
// whether it can fill the cache at all.
func (c *Cache) Prepare() error {
	if err := os.MkdirAll(filepath.Join(c.dir, subdir), 0o755); err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	return nil
}

// A Key names an entry or a note.
type Key [sha256.Size]byte

// KeyOf makes the key of its parts, in order. Parts may hold any bytes: each is length-prefixed.
func KeyOf(parts ...string) Key {
	h := sha256.New()
	fmt.Fprintf(h, "gonixiso cache key v%d\x00", Version)
	for _, p := range parts {
		var n [8]byte
		binary.LittleEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write([]byte(p))
	}
	var k Key
	h.Sum(k[:0])
	return k
}

func (k Key) String() string { return hex.EncodeToString(k[:]) }

func (c *Cache) path(k Key, suffix string) string {
	s := k.String()
	return filepath.Join(c.dir, subdir, s[:2], s+suffix)
}

// An Entry is an entry read from the cache: its description, and its data, a file positioned at
// the data's first byte. Close it.
type Entry struct {
	Desc []byte
	Data *os.File
	Size int64 // bytes of data
}

// Close closes the entry's file.
func (e *Entry) Close() error { return e.Data.Close() }

// Get returns the entry stored under k, checked, and marks it recently used. ok is false for a
// missing entry, and for a damaged one, which is reported and removed.
func (c *Cache) Get(k Key) (e *Entry, ok bool) {
	p := c.path(k, entrySuffix)
	f, err := os.Open(p)
	if err != nil {
		return nil, false
	}
	e, err = readEntry(f, k)
	if err != nil {
		f.Close()
		c.Discard(k, err.Error())
		return nil, false
	}
	now := time.Now()
	os.Chtimes(p, now, now) // recently used, for GC
	return e, true
}

// Has reports whether an entry is stored under k, without reading or checking it.
func (c *Cache) Has(k Key) bool {
	_, err := os.Stat(c.path(k, entrySuffix))
	return err == nil
}

// Discard removes the entry stored under k and reports why.
func (c *Cache) Discard(k Key, why string) {
	p := c.path(k, entrySuffix)
	if os.Remove(p) == nil {
		c.warn("cache: %s: %s; discarded", p, why)
	}
}

// Delete removes the entry stored under k, if any: its caller has no more use for it.
func (c *Cache) Delete(k Key) {
	os.Remove(c.path(k, entrySuffix))
}

// readEntry checks an entry's file and returns the entry.
func readEntry(f *os.File, k Key) (*Entry, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	hl := int64(headerLen())
	if fi.Size() < hl+sumSize {
		return nil, errors.New("truncated entry")
	}
	got, err := checksum(0, f, 0, fi.Size()-sumSize)
	if err != nil {
		return nil, err
	}
	var sum [sumSize]byte
	if _, err := f.ReadAt(sum[:], fi.Size()-sumSize); err != nil {
		return nil, err
	}
	if got != binary.LittleEndian.Uint32(sum[:]) {
		return nil, errors.New("checksum mismatch (corrupt entry)")
	}
	head := make([]byte, hl)
	if _, err := f.ReadAt(head, 0); err != nil {
		return nil, err
	}
	if string(head[:len(entryMagic)]) != entryMagic {
		return nil, errors.New("not a cache entry of this version")
	}
	rest := head[len(entryMagic):]
	if string(rest[:len(k)]) != string(k[:]) {
		return nil, errors.New("entry of another key")
	}
	descLen := binary.LittleEndian.Uint64(rest[len(k):])
	dataLen := binary.LittleEndian.Uint64(rest[len(k)+8:])
	if descLen > maxDesc || uint64(fi.Size()) != uint64(hl)+descLen+dataLen+sumSize {
		return nil, errors.New("lengths do not match the file's size")
	}
	desc := make([]byte, descLen)
	if _, err := f.ReadAt(desc, hl); err != nil {
		return nil, err
	}
	if _, err := f.Seek(hl+int64(descLen), io.SeekStart); err != nil {
		return nil, err
	}
	return &Entry{Desc: desc, Data: f, Size: int64(dataLen)}, nil
}

// Export writes the entry of key k to the file dst, whole or not at all: an entry to keep
// elsewhere (a segment derivation's output, a store path that a binary cache serves) and give a
// cache again with Import.
func (c *Cache) Export(k Key, dst string) error {
	src, err := os.Open(c.path(k, entrySuffix))
	if err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	defer src.Close()
	if _, err := readEntry(src, k); err != nil {
		return fmt.Errorf("cache: %s: %w", src.Name(), err)
	}
	fi, err := src.Stat()
	if err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	out, err := atomicfile.Create(dst, atomicfile.Options{Kind: "cache"})
	if err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	defer out.Abandon()
	if err := copyRange(out.File, 0, src, 0, fi.Size()); err != nil {
		return fmt.Errorf("cache: %s: %w", dst, err)
	}
	if err := out.Commit(atomicfile.Options{Sync: true, Mode: 0o444}); err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	return nil
}

// Import makes the entry file p, written by Export (or Put into another cache), an entry of this
// cache, by a symbolic link: p, a read-only store path say, is not copied. Its header must be an
// entry's of this version; its contents are checked when it is read (Get). It returns the entry's
// key.
func (c *Cache) Import(p string) (Key, error) {
	f, err := os.Open(p)
	if err != nil {
		return Key{}, fmt.Errorf("cache: %w", err)
	}
	defer f.Close()
	head := make([]byte, headerLen())
	if _, err := io.ReadFull(f, head); err != nil || string(head[:len(entryMagic)]) != entryMagic {
		return Key{}, fmt.Errorf("cache: %s: not a cache entry of version %d", p, Version)
	}
	var k Key
	copy(k[:], head[len(entryMagic):])
	abs, err := filepath.Abs(p)
	if err != nil {
		return Key{}, fmt.Errorf("cache: %w", err)
	}
	link := c.path(k, entrySuffix)
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		return Key{}, fmt.Errorf("cache: %w", err)
	}
	os.Remove(link)
	if err := os.Symlink(abs, link); err != nil {
		return Key{}, fmt.Errorf("cache: %w", err)
	}
	return k, nil
}

// A Range is a stretch of a file: N bytes from Off.
type Range struct{ Off, N int64 }

// Put stores an entry under k: desc, and the data read from src's ranges in order (copied by
// the kernel where the file systems allow), then flushed to the disk, so that a crash leaves the
// old entry or the whole new one.
func (c *Cache) Put(k Key, desc []byte, src *os.File, data []Range) error {
	var n int64
	for _, r := range data {
		if r.Off < 0 || r.N < 0 {
			return fmt.Errorf("cache: bad range %d+%d", r.Off, r.N)
		}
		n += r.N
	}
	return c.write(c.path(k, entrySuffix), func(tmp *os.File) error {
		head := []byte(entryMagic)
		head = append(head, k[:]...)
		head = binary.LittleEndian.AppendUint64(head, uint64(len(desc)))
		head = binary.LittleEndian.AppendUint64(head, uint64(n))
		head = append(head, desc...)
		if _, err := tmp.Write(head); err != nil {
			return err
		}
		// The data: copied by the kernel, then summed from the copy.
		dataAt := int64(len(head))
		at := dataAt
		for _, r := range data {
			if err := copyRange(tmp, at, src, r.Off, r.N); err != nil {
				return err
			}
			at += r.N
		}
		sum, err := checksum(crc32.Checksum(head, castagnoli), tmp, dataAt, n)
		if err != nil {
			return err
		}
		_, err = tmp.WriteAt(binary.LittleEndian.AppendUint32(nil, sum), dataAt+n)
		return err
	})
}

// write makes the file p of the cache whole or not at all: written by fill into a temporary
// file beside it, flushed, and renamed into place.
func (c *Cache) write(p string, fill func(tmp *os.File) error) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	tmp, err := atomicfile.Create(p, atomicfile.Options{Kind: "cache"})
	if err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	defer tmp.Abandon()
	if err := fill(tmp.File); err != nil {
		return fmt.Errorf("cache: %s: %w", p, err)
	}
	if err := tmp.Commit(atomicfile.Options{Sync: true, Mode: 0o644}); err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	return nil
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

// SetNote stores value under k, as a note that goes with the entry of key of: GC removes it
// when that entry is gone.
func (c *Cache) SetNote(k Key, value string, of Key) error {
	return c.write(c.path(k, noteSuffix), func(tmp *os.File) error {
		_, err := fmt.Fprintf(tmp, "%s\n%s", of, value)
		return err
	})
}

// Note returns the value stored under k, if any.
func (c *Cache) Note(k Key) (string, bool) {
	_, value, err := readNote(c.path(k, noteSuffix))
	return value, err == nil
}

func readNote(p string) (of Key, value string, err error) {
	f, err := os.Open(p)
	if err != nil {
		return of, "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxNote))
	if err != nil {
		return of, "", err
	}
	head, value, ok := strings.Cut(string(b), "\n")
	if !ok || len(head) != hex.EncodedLen(len(of)) {
		return of, "", errors.New("malformed note")
	}
	if _, err := hex.Decode(of[:], []byte(head)); err != nil {
		return of, "", errors.New("malformed note")
	}
	return of, value, nil
}

// Info describes an entry of the cache, as Entries lists it.
type Info struct {
	Path     string
	Size     int64
	LastUsed time.Time
}

// Entries lists the cache's entries, least recently used first.
func (c *Cache) Entries() ([]Info, error) {
	var out []Info
	err := filepath.WalkDir(filepath.Join(c.dir, subdir), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // no cache yet, or removed by a concurrent GC
			}
			return err
		}
		if d.IsDir() || !strings.HasSuffix(p, entrySuffix) {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		out = append(out, Info{Path: p, Size: fi.Size(), LastUsed: fi.ModTime()})
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

// GC removes least recently used entries until the cache holds at most maxSize bytes, then
// the notes whose entry is gone and the temporary files that killed runs left; it returns the
// number of entries and bytes removed.
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
	filepath.WalkDir(filepath.Join(c.dir, subdir), func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
		case d.IsDir():
			atomicfile.CleanStaleIn(p)
		case strings.HasSuffix(d.Name(), noteSuffix):
			of, _, err := readNote(p)
			if err != nil {
				os.Remove(p)
			} else if _, err := os.Stat(c.path(of, entrySuffix)); errors.Is(err, fs.ErrNotExist) {
				os.Remove(p)
			}
		}
		return nil
	})
	return removed, freed, nil
}
