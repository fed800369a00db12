package iso9660

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gonixiso/gonixiso/internal/atomicfile"
)

// Options are the volume-wide settings of an image.
type Options struct {
	// VolumeID is the volume label (1 to 32 printable ASCII characters). It is stored as given,
	// not upper-cased, because NixOS finds its ISO by it (root=LABEL=...); Joliet keeps its first
	// 16 characters, as xorriso does.
	VolumeID string
	// Publisher, Preparer and Application are the volume's identifiers (at most 128 characters
	// each), stored upper-case in the primary descriptor as ECMA-119's a-characters require.
	// Preparer defaults to "GONIXISO".
	Publisher   string
	Preparer    string
	Application string
	// ModTime is every date in the image: the descriptors' creation and modification dates, every
	// directory record and every Rock Ridge TF entry. Callers pass SOURCE_DATE_EPOCH (NixOS uses
	// 1980-01-01T00:00:00Z); the zero Time means 1970-01-01T00:00:00Z. It must lie in 1970-2155.
	ModTime time.Time
	// Joliet adds a Joliet supplementary volume descriptor and tree (full names up to 64 UCS-2
	// characters, for Windows). Symbolic links have no Joliet form and are left out of that tree.
	Joliet bool
	// GUIDSeed determines the GPT disk and partition GUIDs and the MBR disk signature. Nil means a
	// seed derived from the image's metadata: every name, size, position and date in the image
	// (file contents excepted, so the seed is known before any data is copied). Callers who want
	// the GUIDs to change with the contents pass, for example, the SquashFS's hash.
	GUIDSeed []byte
}

// Header holds what the Writer records of an entry beyond its name and contents.
//
// Rock Ridge attributes follow xorriso's -r rules: owner and group are root (0), directories are
// r-xr-xr-x, files are r-xr-xr-x when Mode has any execute bit and r--r--r-- otherwise, and
// symbolic links are r-xr-xr-x. Every date is Options.ModTime.
type Header struct {
	Mode fs.FileMode
}

// Boot is the image's boot configuration: what El Torito and the isohybrid tables point at.
// Every path names an entry of the image; BIOS and EFI must have been added as files.
type Boot struct {
	// BIOS is the BIOS boot file (isolinux/isolinux.bin): a no-emulation El Torito entry that
	// loads 4 sectors, with the boot info table patched into the image's copy of the file (as
	// xorriso's -boot-info-table; the source is never changed).
	BIOS string
	// Catalog is the path at which the boot catalog appears as a file (.boot.cat). It must not
	// be added otherwise. Required when BIOS or EFI is set.
	Catalog string
	// EFI is the EFI system partition image (boot/efi.img): a no-emulation El Torito entry for
	// platform 0xEF, and, with HybridMBR, the EFI partition of the MBR and the GPT.
	EFI string
	// HybridMBR is syslinux's isohdpfx.bin: with it the image gets an isohybrid master boot
	// record (its first 432 bytes, then the BIOS boot file's position and a partition table) so
	// that the image boots from a USB disk, and, when EFI is set, a GPT as xorriso's
	// -isohybrid-gpt-basdat lays it out. It requires BIOS, and the image is padded to a whole
	// number of cylinders (1 MiB for images up to 1 GiB).
	HybridMBR []byte
}

// A Source supplies the contents of a file when the image is written. Size must not change;
// Open is called once, by Close, and its reader must yield exactly Size bytes.
type Source interface {
	Size() int64
	Open() (io.ReadCloser, error)
}

// FromFile returns a Source for the regular file at name (symbolic links are followed). Its size
// is taken now; if the file has another size when the image is written, Close fails. When the
// image is written to a file, the data is copied by the kernel (copy_file_range).
func FromFile(name string) (Source, error) {
	fi, err := os.Stat(name)
	if err != nil {
		return nil, fmt.Errorf("iso9660: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("iso9660: %s: not a regular file", name)
	}
	return fileSource{name: name, size: fi.Size()}, nil
}

type fileSource struct {
	name string
	size int64
}

func (s fileSource) Size() int64                  { return s.size }
func (s fileSource) Open() (io.ReadCloser, error) { return os.Open(s.name) }

// FromBytes returns a Source for b, which must not change until Close returns.
func FromBytes(b []byte) Source { return bytesSource(b) }

type bytesSource []byte

func (s bytesSource) Size() int64 { return int64(len(s)) }
func (s bytesSource) Open() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(s)), nil
}

// FromFunc returns a Source whose size bytes are written by write, straight into the image at
// the file's place: a producer such as a SquashFS writer streams into the ISO this way, with no
// copy on disk. write must write exactly size bytes. The io.Writer it gets implements
// io.ReaderFrom, so io.Copy from an *os.File into it uses copy_file_range.
func FromFunc(size int64, write func(w io.Writer) error) Source {
	return funcSource{size: size, write: write}
}

type funcSource struct {
	size  int64
	write func(io.Writer) error
}

func (s funcSource) Size() int64 { return s.size }
func (s funcSource) Open() (io.ReadCloser, error) {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(s.write(pw)) }()
	return pr, nil
}

// A Writer lays out an ISO 9660 image. Entries are added by path, in any order; Close computes
// the whole layout and then writes the image in one sequential pass.
type Writer struct {
	opts   Options
	root   *node
	boot   *Boot
	dst    io.Writer // NewWriter's target
	target string    // Create's target path
	closed bool
	err    error // the first error from an entry verb: Close returns it

	catalog  *node   // the boot catalog's file, once a layout has added it
	streamed *node   // the file of Stream, if any
	stream   *Stream // its contents
}

type nodeKind uint8

const (
	kindDir nodeKind = iota
	kindFile
	kindSymlink
)

// node is one entry of the tree. Names are the full Rock Ridge names; the primary and Joliet
// identifiers are derived from them during layout.
type node struct {
	name     string
	parent   *node
	kind     nodeKind
	exec     bool
	children map[string]*node
	src      Source
	size     int64
	target   string // symbolic link target
	read     []byte // the BIOS boot file's contents, read by the first layout (Stream's or Close's)
}

// NewWriter returns a Writer that writes the image to w when it is closed. When w is an
// *os.File, file data from FromFile sources is copied by the kernel.
func NewWriter(w io.Writer, opts Options) (*Writer, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	return &Writer{opts: opts, root: newDir("", nil), dst: w}, nil
}

// Create returns a Writer for an image at path. Close writes it to a temporary file beside path
// and renames that into place only when the image is complete; nothing is created before Close.
func Create(path string, opts Options) (*Writer, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if fi, err := os.Stat(filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("iso9660: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("iso9660: %s: not a directory", filepath.Dir(path))
	}
	return &Writer{opts: opts, root: newDir("", nil), target: path}, nil
}

func newDir(name string, parent *node) *node {
	return &node{name: name, parent: parent, kind: kindDir, children: map[string]*node{}}
}

func (o *Options) validate() error {
	if o.VolumeID == "" || len(o.VolumeID) > vdVolumeIDLen {
		return fmt.Errorf("iso9660: volume id %q: must be 1 to %d characters", o.VolumeID, vdVolumeIDLen)
	}
	for _, c := range []byte(o.VolumeID) {
		if c < 0x20 || c > 0x7e {
			return fmt.Errorf("iso9660: volume id %q: only printable ASCII is allowed", o.VolumeID)
		}
	}
	if o.Preparer == "" {
		o.Preparer = "GONIXISO"
	}
	for _, f := range []struct{ what, v string }{
		{"publisher", o.Publisher}, {"preparer", o.Preparer}, {"application", o.Application},
	} {
		if len(f.v) > vdLongIDLen {
			return fmt.Errorf("iso9660: %s id %q: longer than %d characters", f.what, f.v, vdLongIDLen)
		}
		for _, c := range []byte(strings.ToUpper(f.v)) {
			if !isACharacter(c) {
				return fmt.Errorf("iso9660: %s id %q: %q is not an ECMA-119 a-character", f.what, f.v, c)
			}
		}
	}
	if o.ModTime.IsZero() {
		o.ModTime = time.Unix(0, 0)
	}
	o.ModTime = o.ModTime.UTC()
	if y := o.ModTime.Year(); y < 1970 || y > 2155 {
		return fmt.Errorf("iso9660: modification time %s: outside 1970-2155", o.ModTime)
	}
	o.GUIDSeed = append([]byte(nil), o.GUIDSeed...)
	return nil
}

// isACharacter reports whether c is one of ECMA-119's a-characters (7.4.1).
func isACharacter(c byte) bool {
	switch {
	case c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte(" !\"%&'()*+,-./:;<=>?_", c) >= 0
}

// cleanPath turns an entry's path into its slash-separated components.
func cleanPath(name string) ([]string, error) {
	if name == "" || strings.IndexByte(name, 0) >= 0 {
		return nil, errors.New("invalid path")
	}
	if !utf8.ValidString(name) {
		return nil, errors.New("path is not valid UTF-8")
	}
	p := path.Clean("/" + name)
	if p == "/" {
		return nil, errors.New("is the root directory")
	}
	parts := strings.Split(p[1:], "/")
	for _, c := range parts {
		if len(c) > 255 {
			return nil, fmt.Errorf("name %.20q... is longer than 255 bytes", c)
		}
	}
	return parts, nil
}

// lookupParent returns the directory that holds parts' last component, creating missing
// directories on the way.
func (w *Writer) lookupParent(parts []string) (*node, error) {
	dir := w.root
	for i, c := range parts[:len(parts)-1] {
		n, ok := dir.children[c]
		if !ok {
			n = newDir(c, dir)
			dir.children[c] = n
		} else if n.kind != kindDir {
			return nil, fmt.Errorf("%s is not a directory", strings.Join(parts[:i+1], "/"))
		}
		dir = n
	}
	return dir, nil
}

func (w *Writer) add(name string, n *node) error {
	if w.closed {
		return fmt.Errorf("iso9660: %s: writer is closed", name)
	}
	if w.stream != nil {
		return w.fail(fmt.Errorf("iso9660: %s: added after a streamed file", name))
	}
	return w.addNode(name, n)
}

// addNode links n into the tree at name.
func (w *Writer) addNode(name string, n *node) error {
	parts, err := cleanPath(name)
	if err != nil {
		return w.fail(fmt.Errorf("iso9660: %s: %w", name, err))
	}
	dir, err := w.lookupParent(parts)
	if err != nil {
		return w.fail(fmt.Errorf("iso9660: %s: %w", name, err))
	}
	base := parts[len(parts)-1]
	if old, ok := dir.children[base]; ok {
		if old.kind == kindDir && n.kind == kindDir {
			return nil // Mkdir of an existing directory
		}
		return w.fail(fmt.Errorf("iso9660: %s: %w", name, fs.ErrExist))
	}
	n.name, n.parent = base, dir
	dir.children[base] = n
	return nil
}

func (w *Writer) fail(err error) error {
	if w.err == nil {
		w.err = err
	}
	return err
}

// Mkdir adds a directory, and any missing parents. Directories named in other entries' paths
// are created implicitly; Mkdir is needed only for empty ones. Adding an existing directory
// again is not an error.
func (w *Writer) Mkdir(name string, hdr Header) error {
	return w.add(name, newDir("", nil))
}

// AddFile adds a regular file whose contents come from src when the image is written.
func (w *Writer) AddFile(name string, hdr Header, src Source) error {
	if src == nil {
		return w.fail(fmt.Errorf("iso9660: %s: nil source", name))
	}
	size := src.Size()
	if size < 0 {
		return w.fail(fmt.Errorf("iso9660: %s: negative size %d", name, size))
	}
	return w.add(name, &node{kind: kindFile, exec: hdr.Mode&0o111 != 0, src: src, size: size})
}

// Symlink adds a symbolic link to target. Rock Ridge records it; the Joliet tree leaves it out.
func (w *Writer) Symlink(name, target string, hdr Header) error {
	if target == "" || strings.IndexByte(target, 0) >= 0 || !utf8.ValidString(target) {
		return w.fail(fmt.Errorf("iso9660: %s: invalid link target %q", name, target))
	}
	if len(target) > 4095 {
		return w.fail(fmt.Errorf("iso9660: %s: link target longer than 4095 bytes", name))
	}
	return w.add(name, &node{kind: kindSymlink, target: target})
}

// SetBoot sets the boot configuration; the paths are resolved when the image is written.
func (w *Writer) SetBoot(b Boot) error {
	if w.stream != nil {
		return w.fail(errors.New("iso9660: boot set after a streamed file"))
	}
	if b.BIOS == "" && b.EFI == "" {
		return w.fail(errors.New("iso9660: boot: neither a BIOS boot file nor an EFI image"))
	}
	if b.Catalog == "" {
		return w.fail(errors.New("iso9660: boot: no catalog path"))
	}
	if b.HybridMBR != nil {
		if b.BIOS == "" {
			return w.fail(errors.New("iso9660: boot: an isohybrid MBR needs a BIOS boot file"))
		}
		if len(b.HybridMBR) < mbrCodeLen {
			return w.fail(fmt.Errorf("iso9660: boot: hybrid MBR code is %d bytes, want at least %d",
				len(b.HybridMBR), mbrCodeLen))
		}
		b.HybridMBR = append([]byte(nil), b.HybridMBR[:mbrCodeLen]...)
	}
	w.boot = &b
	return nil
}

// Close lays out the image and writes it: to the io.Writer given to NewWriter, or to a
// temporary file that is renamed to Create's path once complete. On error no image is left at
// the path. Close reads every Source once.
func (w *Writer) Close() error {
	if w.closed {
		return errors.New("iso9660: writer already closed")
	}
	w.closed = true
	if w.err != nil {
		return w.err
	}
	if s := w.stream; s != nil {
		s.done = true
		w.streamed.size = s.Size()
	}
	lay, err := w.layout()
	if err != nil {
		return err
	}
	if s := w.stream; s != nil {
		if err := s.place(int64(lay.streamed.dataLBA) * SectorSize); err != nil {
			return err
		}
		if _, err := s.f.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("iso9660: %w", err)
		}
	}
	if w.dst != nil {
		return lay.writeTo(w.dst)
	}
	return writeFileAtomically(w.target, lay.writeTo)
}

// writeFileAtomically writes a file through write into a temporary file beside target and renames
// it into place when write succeeded.
func writeFileAtomically(target string, write func(io.Writer) error) (err error) {
	f, err := atomicfile.Create(target, atomicfile.Options{Kind: "iso"})
	if err != nil {
		return fmt.Errorf("iso9660: %w", err)
	}
	defer f.Abandon()
	if err = write(f); err != nil {
		return err
	}
	if err = f.Commit(atomicfile.Options{Mode: 0o644}); err != nil {
		return fmt.Errorf("iso9660: %w", err)
	}
	return nil
}
