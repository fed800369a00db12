package nar

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

var (
	// ErrWriteTooLong is returned when more bytes are written than the header's Size.
	ErrWriteTooLong = errors.New("nar: write too long")
	// ErrWriteAfterClose is returned when the archive is written to after Close.
	ErrWriteAfterClose = errors.New("nar: write after close")
)

// A Writer writes a NAR to an io.Writer. Call WriteHeader for each node, in the order of the
// archive: the root ("/") first, then, in a directory, its entries sorted by name, each one
// followed by its own entries if it is a directory. After a regular file's header, Write its
// exactly Size bytes of contents. Close ends the archive.
//
// The Writer checks that order and never writes an archive that Nix would reject.
type Writer struct {
	w       io.Writer
	err     error
	started bool
	closed  bool
	// open holds the directories that can still receive entries, the root first.
	open []openDir
	// file is the path of the regular file whose contents are being written, and remaining the
	// number of its bytes still to come.
	file      string
	remaining uint64
	pad       uint64 // padding owed after the file's contents
	scratch   []byte
}

var zeros [alignment]byte

type openDir struct {
	path string
	last string // the name of the last entry written, "" before the first
}

// NewWriter returns a Writer that writes a NAR to w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: w, scratch: make([]byte, 0, 256)}
}

// WriteHeader starts the node hdr describes. A regular file's contents follow with Write.
func (nw *Writer) WriteHeader(hdr *Header) error {
	if nw.err != nil {
		return nw.err
	}
	if nw.closed {
		return ErrWriteAfterClose
	}
	if err := nw.endFile(); err != nil {
		return nw.fail(err)
	}
	if err := checkPath(hdr.Path); err != nil {
		return nw.fail(err)
	}
	switch hdr.Type {
	case TypeRegular, TypeDirectory:
	case TypeSymlink:
		if hdr.LinkTarget == "" || strings.IndexByte(hdr.LinkTarget, 0) >= 0 {
			return nw.fail(fmt.Errorf("nar: %s: invalid symlink target %q", hdr.Path, hdr.LinkTarget))
		}
	default:
		return nw.fail(fmt.Errorf("nar: %s: invalid type %d", hdr.Path, hdr.Type))
	}

	if !nw.started {
		if hdr.Path != "/" {
			return nw.fail(fmt.Errorf("nar: %s: the first node must be the root, /", hdr.Path))
		}
		nw.started = true
		nw.str(Magic)
	} else {
		if hdr.Path == "/" {
			return nw.fail(errors.New("nar: /: the root was already written"))
		}
		parent, name := path.Split(hdr.Path)
		parent = path.Clean(parent)
		// Close the directories this node is not inside of.
		for len(nw.open) > 0 && nw.open[len(nw.open)-1].path != parent {
			nw.closeNode(nw.open[len(nw.open)-1].path)
			nw.open = nw.open[:len(nw.open)-1]
		}
		if len(nw.open) == 0 {
			return nw.fail(fmt.Errorf("nar: %s: not in an open directory (entries go right after their directory, sorted)", hdr.Path))
		}
		dir := &nw.open[len(nw.open)-1]
		if dir.last != "" && name <= dir.last {
			return nw.fail(fmt.Errorf("nar: %s: entries must be sorted by name and unique (after %q)", hdr.Path, dir.last))
		}
		dir.last = name
		nw.str(tokenEntry, tokenOpen, tokenName, name, tokenNode)
	}

	nw.str(tokenOpen, tokenType)
	switch hdr.Type {
	case TypeDirectory:
		nw.str(tokenDirectory)
		nw.open = append(nw.open, openDir{path: hdr.Path})
	case TypeSymlink:
		nw.str(tokenSymlink, tokenTarget, hdr.LinkTarget)
		nw.closeNode(hdr.Path)
	case TypeRegular:
		nw.str(tokenRegular)
		if hdr.Executable {
			nw.str(tokenExecutable, "")
		}
		nw.str(tokenContents)
		nw.scratch = binary.LittleEndian.AppendUint64(nw.scratch, hdr.Size)
		nw.file, nw.remaining, nw.pad = hdr.Path, hdr.Size, padding(hdr.Size)
		if hdr.Size == 0 {
			if err := nw.endFile(); err != nil {
				return nw.fail(err)
			}
		}
	}
	return nw.flush()
}

// Write writes contents of the current regular file. It returns ErrWriteTooLong past the
// Size the header gave.
func (nw *Writer) Write(b []byte) (int, error) {
	if nw.err != nil {
		return 0, nw.err
	}
	if nw.closed {
		return 0, ErrWriteAfterClose
	}
	if nw.file == "" || uint64(len(b)) > nw.remaining {
		if len(b) == 0 {
			return 0, nil
		}
		return 0, ErrWriteTooLong
	}
	if err := nw.flush(); err != nil {
		return 0, err
	}
	n, err := nw.w.Write(b)
	nw.remaining -= uint64(n)
	if err != nil {
		return n, nw.fail(err)
	}
	if nw.remaining == 0 {
		if err := nw.endFile(); err != nil {
			return n, nw.fail(err)
		}
	}
	return n, nil
}

// Close ends the archive: it closes every open directory. It does not close the underlying
// writer.
func (nw *Writer) Close() error {
	if nw.err != nil {
		return nw.err
	}
	if nw.closed {
		return nil
	}
	if !nw.started {
		return nw.fail(errors.New("nar: an archive needs a root node"))
	}
	if err := nw.endFile(); err != nil {
		return nw.fail(err)
	}
	for len(nw.open) > 0 {
		nw.closeNode(nw.open[len(nw.open)-1].path)
		nw.open = nw.open[:len(nw.open)-1]
	}
	nw.closed = true
	return nw.flush()
}

// endFile ends the current regular file once its contents are complete.
func (nw *Writer) endFile() error {
	if nw.file == "" {
		return nil
	}
	if nw.remaining != 0 {
		return fmt.Errorf("nar: %s: %d bytes of contents missing", nw.file, nw.remaining)
	}
	nw.scratch = append(nw.scratch, zeros[:nw.pad]...)
	nw.closeNode(nw.file)
	nw.file, nw.pad = "", 0
	return nil
}

// closeNode ends a node and, for any node but the root, the directory entry around it.
func (nw *Writer) closeNode(p string) {
	nw.str(tokenClose)
	if p != "/" {
		nw.str(tokenClose)
	}
}

// str appends NAR strings to the scratch buffer.
func (nw *Writer) str(ss ...string) {
	for _, s := range ss {
		n := uint64(len(s))
		nw.scratch = binary.LittleEndian.AppendUint64(nw.scratch, n)
		nw.scratch = append(nw.scratch, s...)
		nw.scratch = append(nw.scratch, zeros[:padding(n)]...)
	}
}

func (nw *Writer) flush() error {
	if len(nw.scratch) == 0 {
		return nil
	}
	_, err := nw.w.Write(nw.scratch)
	nw.scratch = nw.scratch[:0]
	if err != nil {
		return nw.fail(err)
	}
	return nil
}

func (nw *Writer) fail(err error) error {
	if nw.err == nil {
		nw.err = err
	}
	return nw.err
}

// checkPath checks that p is "/" or a clean absolute path of valid entry names.
func checkPath(p string) error {
	if p == "" || p[0] != '/' || path.Clean(p) != p || strings.IndexByte(p, 0) >= 0 {
		return fmt.Errorf("nar: %q: invalid path (want / or a clean absolute path like /a/b)", p)
	}
	return nil
}
