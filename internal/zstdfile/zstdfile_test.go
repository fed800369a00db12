package zstdfile_test

import (
	"bytes"
	"crypto/sha256"
	"math/rand/v2"
	"os/exec"
	"testing"

	"github.com/gonixiso/gonixiso/internal/zstdfile"
)

// TestCompress compresses 40 MiB of mixed data twice: the same bytes, which the zstd command
// decompresses to the input, and which a statically linked gonixiso (Nix's sandbox) makes too
// (cmd/gonixiso's TestISODerivation).
func TestCompress(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	in := make([]byte, 40<<20)
	for i := 0; i < len(in); i += 4096 {
		if i/4096%3 == 0 {
			for j := i; j < min(i+4096, len(in)); j++ {
				in[j] = byte(r.Uint32())
			}
		} else {
			copy(in[i:], bytes.Repeat([]byte("gonixiso "), 500)[:min(4096, len(in)-i)])
		}
	}
	var first []byte
	for range 2 {
		var out bytes.Buffer
		if err := zstdfile.Compress(&out, bytes.NewReader(in)); err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = out.Bytes()
			continue
		}
		if !bytes.Equal(first, out.Bytes()) {
			t.Fatalf("other bytes the second time (%x, %x)", sha256.Sum256(first), sha256.Sum256(out.Bytes()))
		}
	}
	cmd := exec.Command("zstd", "-d", "-c")
	cmd.Stdin = bytes.NewReader(first)
	got, err := cmd.Output()
	if err != nil {
		t.Fatalf("zstd -d: %v", err)
	}
	if !bytes.Equal(got, in) {
		t.Fatal("zstd -d gives other bytes than the input")
	}
}
