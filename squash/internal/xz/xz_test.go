package xz

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/crc64"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/gonixiso/gonixiso/internal/testsystem"
	"github.com/ulikunitz/xz/lzma"
)

// lzma2 compresses data into raw LZMA2 chunks with a dictionary of dictCap bytes.
func lzma2(t testing.TB, data []byte, dictCap int) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := lzma.Writer2Config{DictCap: dictCap}.NewWriter2(&b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// blockSpec is a block for buildStream: its filters (LZMA2 last), its compressed data and the
// uncompressed size the index records.
type blockSpec struct {
	filters []Filter
	data    []byte
	size    int64
	sum     []byte // the check field; nil: computed from plain
	plain   []byte
}

// buildStream wraps blocks in an xz container: stream header, blocks with their headers,
// padding and checks, the index and the footer, every CRC32 right. Tests then break one part.
func buildStream(check byte, blocks ...blockSpec) []byte {
	le := binary.LittleEndian
	flags := []byte{0, check}
	s := append([]byte{}, headerMagic...)
	s = append(s, flags...)
	s = le.AppendUint32(s, crc32.ChecksumIEEE(flags))
	var index []byte
	for _, b := range blocks {
		var h []byte
		h = append(h, 0, byte(len(b.filters)-1))
		for _, f := range b.filters {
			h = appendVarint(h, f.ID)
			h = appendVarint(h, uint64(len(f.Props)))
			h = append(h, f.Props...)
		}
		for (len(h)+4)%4 != 0 {
			h = append(h, 0)
		}
		h[0] = byte((len(h)+4)/4 - 1)
		h = le.AppendUint32(h, crc32.ChecksumIEEE(h))
		start := len(s)
		s = append(s, h...)
		s = append(s, b.data...)
		unpadded := len(s) - start
		for len(s)%4 != 0 {
			s = append(s, 0)
		}
		sum := b.sum
		if sum == nil {
			sum = checkOf(check, b.plain)
		}
		s = append(s, sum...)
		unpadded += len(sum)
		index = appendVarint(index, uint64(unpadded))
		index = appendVarint(index, uint64(b.size))
	}
	idx := append([]byte{0}, appendVarint(nil, uint64(len(blocks)))...)
	idx = append(idx, index...)
	for len(idx)%4 != 0 {
		idx = append(idx, 0)
	}
	idx = le.AppendUint32(idx, crc32.ChecksumIEEE(idx))
	s = append(s, idx...)
	foot := le.AppendUint32(nil, uint32(len(idx)/4-1))
	foot = append(foot, flags...)
	s = le.AppendUint32(s, crc32.ChecksumIEEE(foot))
	s = append(s, foot...)
	return append(s, footerMagic...)
}

func appendVarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func checkOf(check byte, data []byte) []byte {
	switch check {
	case CheckCRC32:
		return binary.LittleEndian.AppendUint32(nil, crc32.ChecksumIEEE(data))
	case CheckCRC64:
		return binary.LittleEndian.AppendUint64(nil, crc64.Checksum(data, crc64ECMA))
	case CheckSHA256:
		h := sha256.Sum256(data)
		return h[:]
	}
	return make([]byte, checkSize(check))
}

// lzma2Filter is an LZMA2 filter entry with the dictionary property p.
func lzma2Filter(p byte) Filter { return Filter{ID: FilterLZMA2, Props: []byte{p}} }

// text is compressible test data.
func text(n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "line %d of an xz test\n", i)
	}
	return b.Bytes()[:n]
}

// TestDecodeStreams decodes streams of one and of several blocks with each check type, made
// by the xz command (liblzma) and by buildStream around ulikunitz's LZMA2.
func TestDecodeStreams(t *testing.T) {
	plain := text(300 << 10)
	type stream struct {
		name string
		data []byte
	}
	var streams []stream
	for _, check := range []byte{CheckNone, CheckCRC32, CheckCRC64, CheckSHA256} {
		one := blockSpec{filters: []Filter{lzma2Filter(16)}, data: lzma2(t, plain, 1<<20), size: int64(len(plain)), plain: plain}
		a, b := plain[:100<<10], plain[100<<10:]
		two := []blockSpec{
			{filters: []Filter{lzma2Filter(16)}, data: lzma2(t, a, 1<<20), size: int64(len(a)), plain: a},
			{filters: []Filter{lzma2Filter(16)}, data: lzma2(t, b, 1<<20), size: int64(len(b)), plain: b},
		}
		streams = append(streams,
			stream{fmt.Sprintf("go-check-%#x", check), buildStream(check, one)},
			stream{fmt.Sprintf("go-check-%#x-two-blocks", check), buildStream(check, two...)})
	}
	if _, err := exec.LookPath("xz"); err == nil {
		for _, check := range []string{"none", "crc32", "crc64", "sha256"} {
			for _, args := range [][]string{nil, {"--block-size=65536"}} {
				cmd := exec.Command("xz", append([]string{"--format=xz", "--check=" + check, "-c"}, args...)...)
				cmd.Stdin = bytes.NewReader(plain)
				out, err := cmd.Output()
				if err != nil {
					t.Fatal(err)
				}
				streams = append(streams, stream{"xz-" + check + strings.Join(args, ""), out})
			}
		}
	}
	for _, s := range streams {
		out := make([]byte, len(plain))
		n, err := Decode(out, s.data)
		if err != nil || n != len(plain) || !bytes.Equal(out, plain) {
			t.Errorf("%s: Decode = %d bytes, %v; want the %d bytes encoded", s.name, n, err, len(plain))
		}
		// Too little room is an error, never a short or overrun result.
		if _, err := Decode(make([]byte, len(plain)-1), s.data); !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s: Decode into one byte too few = %v, want ErrTooLarge", s.name, err)
		}
	}
}

// TestDecodeRefuses breaks streams one part at a time: each is an error, never a panic.
func TestDecodeRefuses(t *testing.T) {
	plain := text(10000)
	good := blockSpec{filters: []Filter{lzma2Filter(16)}, data: lzma2(t, plain, 1<<20), size: int64(len(plain)), plain: plain}
	valid := buildStream(CheckCRC32, good)
	if n, err := Decode(make([]byte, len(plain)), valid); err != nil || n != len(plain) {
		t.Fatalf("the valid stream: %d, %v", n, err)
	}
	flip := func(at int) []byte {
		b := bytes.Clone(valid)
		b[at] ^= 0x40
		return b
	}
	withBlock := func(f func(b *blockSpec)) []byte {
		b := good
		f(&b)
		return buildStream(CheckCRC32, b)
	}
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "shorter than its header"},
		{"header magic", flip(0), "header magic"},
		{"header CRC32", flip(8), "header CRC32"},
		{"footer magic", flip(len(valid) - 1), "footer magic"},
		{"footer CRC32", flip(len(valid) - 12), "footer CRC32"},
		{"truncated", valid[:len(valid)-1], "footer"},
		{"block data", flip(20), ""},
		{"check", withBlock(func(b *blockSpec) { b.sum = []byte{1, 2, 3, 4} }), "CRC32 mismatch"},
		{"size too small", withBlock(func(b *blockSpec) { b.size-- }), "more bytes"},
		{"size too large", withBlock(func(b *blockSpec) { b.size++ }), "LZMA2"},
		{"not LZMA2", withBlock(func(b *blockSpec) { b.filters = []Filter{{ID: FilterX86}} }), "not LZMA2"},
		{"unknown filter", withBlock(func(b *blockSpec) { b.filters = []Filter{{ID: 0x99}, lzma2Filter(16)} }), "not supported"},
		{"BCJ properties", withBlock(func(b *blockSpec) { b.filters = []Filter{{ID: FilterX86, Props: []byte{1}}, lzma2Filter(16)} }), "bad properties"},
		{"dictionary property", withBlock(func(b *blockSpec) { b.filters = []Filter{lzma2Filter(41)} }), "out of range"},
		{"unknown check", buildStream(0x0F, good), "unsupported check"},
	}
	for _, c := range cases {
		_, err := Decode(make([]byte, len(plain)+100), c.data)
		if err == nil || !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(c.want)) {
			t.Errorf("%s: Decode = %v, want an error saying %q", c.name, err, c.want)
		}
	}
}

// TestDecodeMemory decodes a stream declaring a 4 GiB dictionary into a small buffer: the
// dictionary allocated is bounded by the output, not by the declaration.
func TestDecodeMemory(t *testing.T) {
	plain := text(64 << 10)
	s := buildStream(CheckCRC32, blockSpec{filters: []Filter{lzma2Filter(40)}, data: lzma2(t, plain, 1<<20),
		size: int64(len(plain)), plain: plain})
	out := make([]byte, len(plain))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range 4 {
		if _, err := Decode(out, s); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / 4; per > 8<<20 {
		t.Errorf("decoding 64 KiB with a declared 4 GiB dictionary allocates %d bytes", per)
	}
}

// TestBCJ decodes, with the Go BCJ filters, what liblzma's encoders (through the xz command)
// made, for every filter the kernel has, with and without a start offset.
func TestBCJ(t *testing.T) {
	testsystem.Require(t, "xz")
	goBin, err := os.ReadFile(filepath.Join(runtime.GOROOT(), "bin", "go"))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	// Code-like bytes for each architecture: random words, many of them shaped as the
	// filter's branch instructions.
	shaped := func(fill func(b []byte)) []byte {
		b := make([]byte, 256<<10)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		for i := 0; i+16 <= len(b); i += 16 {
			if rng.IntN(3) == 0 {
				fill(b[i : i+16])
			}
		}
		return b
	}
	inputs := map[string][]byte{
		"x86":      goBin[:min(len(goBin), 1<<20)],
		"powerpc":  shaped(func(b []byte) { b[0], b[3] = 0x48|b[0]&3, b[3]&^3|1 }),
		"ia64":     shaped(func(b []byte) { b[0] = 0x10 | b[0]&0x0F; b[5] = b[5]&0xC0 | 0x0A }),
		"arm":      shaped(func(b []byte) { b[3], b[7] = 0xEB, 0xEB }),
		"armthumb": shaped(func(b []byte) { b[1], b[3] = 0xF0|b[1]&7, 0xF8|b[3]&7 }),
		"sparc":    shaped(func(b []byte) { b[0], b[1] = 0x40, b[1]&0x3F; b[4], b[5] = 0x7F, b[5]|0xC0 }),
	}
	for _, name := range []string{"x86", "powerpc", "ia64", "arm", "armthumb", "sparc"} {
		for _, start := range []int{0, 16} {
			t.Run(fmt.Sprintf("%s-start-%d", name, start), func(t *testing.T) {
				in := inputs[name]
				packed := xzCommand(t, in, name, start)
				// The filter must have changed something, or the test proves nothing: decode
				// the LZMA2 layer alone.
				st, err := Parse(packed)
				if err != nil {
					t.Fatal(err)
				}
				blk := st.Blocks[0]
				if len(blk.Filters) != 2 || FilterName(blk.Filters[0].ID) != name {
					t.Fatalf("filters %v, want the %s filter and LZMA2", blk.Filters, name)
				}
				filtered := make([]byte, blk.UncompressedSize)
				if err := decodeBlock(filtered, packed[blk.DataStart:blk.DataEnd], blk.Filters[1:]); err != nil {
					t.Fatal(err)
				}
				if bytes.Equal(filtered, in) {
					t.Fatalf("the %s filter changes nothing in the test input", name)
				}
				out := make([]byte, len(in))
				n, err := Decode(out, packed)
				if err != nil {
					t.Fatal(err)
				}
				if n != len(in) || !bytes.Equal(out, in) {
					t.Fatalf("decoded %d bytes, different from the %d encoded", n, len(in))
				}
			})
		}
	}
}

// xzCommand compresses in with the xz command, a BCJ filter (with a start offset unless 0)
// and LZMA2.
func xzCommand(t testing.TB, in []byte, filter string, start int) []byte {
	t.Helper()
	arg := "--" + filter
	if start != 0 {
		arg += fmt.Sprintf("=start=%d", start)
	}
	cmd := exec.Command("xz", "--format=xz", "--check=crc32", arg, "--lzma2=preset=1,dict=1MiB", "-c")
	cmd.Stdin = bytes.NewReader(in)
	packed, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	return packed
}
