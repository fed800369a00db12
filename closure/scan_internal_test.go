package closure

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestRefScannerChunks: whatever the sizes of the writes, the scanner finds exactly the
// candidates whose hash parts occur in the bytes, which is what Nix's scan finds.
func TestRefScannerChunks(t *testing.T) {
	rnd := rand.New(rand.NewPCG(7, 8))
	var paths []string
	for range 20 {
		h := make([]byte, HashPartLen)
		for i := range h {
			h[i] = Nix32Alphabet[rnd.IntN(len(Nix32Alphabet))]
		}
		paths = append(paths, "/nix/store/"+string(h)+"-p")
	}
	cands, err := NewCandidates(paths)
	if err != nil {
		t.Fatal(err)
	}
	for trial := range 300 {
		// Data of random bytes, Nix32 letters (runs that are not hash parts), and a few hash
		// parts planted anywhere, at the start and the end included.
		data := make([]byte, rnd.IntN(400))
		for i := range data {
			if rnd.IntN(3) == 0 {
				data[i] = byte(rnd.Uint32())
			} else {
				data[i] = Nix32Alphabet[rnd.IntN(len(Nix32Alphabet))]
			}
		}
		for range rnd.IntN(4) {
			if len(data) < HashPartLen {
				break
			}
			h := hashPart(paths[rnd.IntN(len(paths))])
			copy(data[rnd.IntN(len(data)-HashPartLen+1):], h)
		}
		var want []string
		for _, p := range paths {
			if bytes.Contains(data, []byte(hashPart(p))) {
				want = append(want, p)
			}
		}
		slices.Sort(want)
		h := NewHasher(cands)
		for rest := data; len(rest) > 0; {
			n := min(len(rest), 1+rnd.IntN(3+trial%70))
			h.Write(rest[:n])
			rest = rest[n:]
		}
		if got := h.Sum("/x").References; !slices.Equal(got, want) {
			t.Fatalf("trial %d: found %v, want %v in %q", trial, got, want, data)
		}
	}
}

// TestRefScannerRuns: hash parts inside long Nix32 runs, one byte apart, are all found.
func TestRefScannerRuns(t *testing.T) {
	a := "/nix/store/" + "0123456789abcdfghijklmnpqrsvwxyz" + "-a"
	b := "/nix/store/" + "123456789abcdfghijklmnpqrsvwxyz0" + "-b"
	cands, err := NewCandidates([]string{a, b})
	if err != nil {
		t.Fatal(err)
	}
	h := NewHasher(cands)
	h.Write([]byte("zzzz0123456789abcdfghijklmnpqrsvwxyz0zzzz"))
	if got := h.Sum("/x").References; !slices.Equal(got, []string{a, b}) {
		t.Errorf("found %v, want both", got)
	}
}
