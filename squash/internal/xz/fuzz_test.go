package xz

import (
	"os/exec"
	"runtime"
	"testing"
)

// fuzzRoom is the output room each fuzz input decodes into: a SquashFS block of the largest size.
const fuzzRoom = 1 << 20

// fuzzMemory bounds what decoding one input may allocate: the room, a dictionary no larger
// than it, and the decoder's buffers.
const fuzzMemory = 16 << 20

// FuzzDecode parses and decodes corrupt streams: errors, never panics, more output than the
// room, or more memory than fuzzMemory whatever dictionary or sizes an input declares.
func FuzzDecode(f *testing.F) {
	plain := text(20000)
	f.Add(buildStream(CheckCRC32, blockSpec{filters: []Filter{lzma2Filter(16)}, data: lzma2(f, plain, 1<<20),
		size: int64(len(plain)), plain: plain}))
	f.Add(buildStream(CheckSHA256, blockSpec{filters: []Filter{lzma2Filter(40)}, data: lzma2(f, plain, 1<<20),
		size: int64(len(plain)), plain: plain}))
	f.Add(buildStream(CheckNone,
		blockSpec{filters: []Filter{lzma2Filter(0)}, data: lzma2(f, plain[:100], 1<<12), size: 100},
		blockSpec{filters: []Filter{lzma2Filter(0)}, data: lzma2(f, plain[100:], 1<<12), size: int64(len(plain) - 100)}))
	if _, err := exec.LookPath("xz"); err == nil {
		for _, name := range []string{"x86", "powerpc", "ia64", "arm", "armthumb", "sparc"} {
			f.Add(xzCommand(f, plain, name, 0))
		}
	}
	out := make([]byte, fuzzRoom)
	f.Fuzz(func(t *testing.T, data []byte) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		if s, err := Parse(data); err == nil {
			for _, b := range s.Blocks {
				DictSize(b.Filters)
			}
		}
		n, err := Decode(out, data)
		runtime.ReadMemStats(&after)
		if err == nil && (n < 0 || n > len(out)) {
			t.Fatalf("Decode = %d bytes into %d", n, len(out))
		}
		if a := after.TotalAlloc - before.TotalAlloc; a > fuzzMemory {
			t.Fatalf("decoding %d bytes allocated %d bytes", len(data), a)
		}
	})
}
