package lzo

import (
	"bytes"
	"errors"
	"runtime"
	"strings"
	"testing"
)

// eos is the end of a stream: a 3-byte match at distance 16384.
var eos = []byte{0x11, 0x00, 0x00}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// streams are hand-made streams, one for each instruction and state, and what they decode to.
// (mksquashfs's lzo images, made by liblzo, are read in squash's tests.)
func streams() []struct {
	name string
	in   []byte
	want string
} {
	long := strings.Repeat("0123456789abcdef", 1100) // 17600 bytes
	return []struct {
		name string
		in   []byte
		want string
	}{
		{"first byte literals", cat([]byte{17 + 5}, []byte("hello"), eos), "hello"},
		{"state 1-3: 2-byte match, then 01LDDDSS", cat([]byte{17 + 2, 'a', 'b', 0x04, 0x00, 0x4C, 0x00}, eos), "abababa"},
		{"literal run with a length run", cat([]byte{0x00, 0x00, 0x05}, []byte(long[:278]), eos), long[:278]},
		{"literal run, short", cat([]byte{0x02}, []byte("12345"), eos), "12345"},
		{"001LLLLL with trailing literals", cat([]byte{17 + 3, 'a', 'b', 'c', 0x23, 0x09, 0x00, 'Z'}, eos), "abcabcabZ"},
		{"001LLLLL with a length run", cat([]byte{17 + 1, 'x', 0x20, 0x00, 0x01, 0x00, 0x00}, eos), strings.Repeat("x", 1+2+31+255+1)},
		{"1LLDDDSS", cat([]byte{17 + 4, 'w', 'x', 'y', 'z', 0xEC, 0x00}, eos), "wxyzwxyzwxyz"},
		{"state 4: 3-byte match at 2049+", cat([]byte{0x00}, zeros(8), []byte{0x17}, []byte(long[:3+15+8*255+0x17]),
			[]byte{0x00, 0x00}, eos), long[:2081] + long[2081-2049:2081-2049+3]},
		{"0001HLLL at 16385", cat([]byte{0x00}, zeros(64), []byte{0x4C}, []byte(long[:3+15+64*255+0x4C]), []byte{0x11, 0x04, 0x00}, eos),
			long[:16414] + long[16414-16385:16414-16385+3]},
		{"0001HLLL with H: 32768 back", cat([]byte{17 + 1, 'a', 0x19, 0x00, 0x00}, eos), ""},
	}
}

func zeros(n int) []byte { return make([]byte, n) }

func TestDecode(t *testing.T) {
	for _, c := range streams() {
		if c.want == "" {
			continue // a stream for the refusals below
		}
		out := make([]byte, len(c.want)+10)
		n, err := Decode(out, c.in)
		if err != nil || string(out[:n]) != c.want {
			t.Errorf("%s: %d bytes, %v; want %d bytes", c.name, n, err, len(c.want))
		}
		if _, err := Decode(make([]byte, len(c.want)-1), c.in); !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s: into a byte too few: %v, want ErrTooLarge", c.name, err)
		}
	}
}

// TestDecodeRefuses breaks streams: each is an error, never a panic or a short result.
func TestDecodeRefuses(t *testing.T) {
	for _, c := range []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, errInput},
		{"version 1", []byte{17, 1, 0x11, 0, 0}, errVersion},
		{"truncated literals", []byte{17 + 5, 'a', 'b'}, errInput},
		{"no end", []byte{17 + 2, 'a', 'b'}, errInput},
		{"truncated match", []byte{17 + 2, 'a', 'b', 0x23}, errInput},
		{"truncated length run", []byte{0x00, 0x00, 0x00}, errInput},
		{"match before the start", []byte{17 + 1, 'a', 0x4C, 0x00, 0x11, 0, 0}, errDistance},
		{"match before the start, first", []byte{16, 0x01, 0x04, 0x00, 0x11, 0, 0}, errDistance},
		{"bytes after the end", cat([]byte{17 + 1, 'a'}, eos, []byte{0}), errTrailing},
		{"32 KiB back, beyond the output", streams()[9].in, errDistance},
	} {
		n, err := Decode(make([]byte, 1<<16), c.in)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %d bytes, %v; want %v", c.name, n, err, c.want)
		}
	}
}

// FuzzDecode decodes corrupt streams into a SquashFS block's room: errors, never panics, output
// past the room, or allocations.
func FuzzDecode(f *testing.F) {
	for _, c := range streams() {
		f.Add(c.in)
	}
	out := make([]byte, 1<<20)
	f.Fuzz(func(t *testing.T, in []byte) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		n, err := Decode(out, in)
		runtime.ReadMemStats(&after)
		if err == nil && (n < 0 || n > len(out)) {
			t.Fatalf("Decode = %d bytes into %d", n, len(out))
		}
		if a := after.TotalAlloc - before.TotalAlloc; a > 64<<10 {
			t.Fatalf("decoding %d bytes allocated %d bytes", len(in), a)
		}
	})
}
