package closure_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"math/rand/v2"
	"os/exec"
	"strings"
	"testing"

	"github.com/gonixiso/gonixiso/closure"
	"github.com/gonixiso/gonixiso/internal/testsystem"
)

// TestNix32MatchesNix checks the encoding against `nix hash to-base32` and the decoding back.
func TestNix32MatchesNix(t *testing.T) {
	testsystem.Require(t, "nix")
	rnd := rand.New(rand.NewPCG(3, 4))
	var digests []string
	for i := range 8 {
		var b [sha256.Size]byte
		for j := range b {
			b[j] = byte(rnd.Uint32())
		}
		switch i {
		case 0: // all zeros
			b = [sha256.Size]byte{}
		case 1: // all ones
			for j := range b {
				b[j] = 0xff
			}
		}
		digests = append(digests, hex.EncodeToString(b[:]))
	}
	args := append([]string{"--extra-experimental-features", "nix-command", "hash", "to-base32", "--type", "sha256"}, digests...)
	out, err := exec.Command("nix", args...).Output()
	if err != nil {
		t.Fatalf("nix hash to-base32: %v", err)
	}
	want := strings.Fields(string(out))
	if len(want) != len(digests) {
		t.Fatalf("nix hash to-base32 gave %d hashes for %d", len(want), len(digests))
	}
	for i, d := range digests {
		b, _ := hex.DecodeString(d)
		if got := closure.EncodeNix32(b); got != want[i] {
			t.Errorf("EncodeNix32(%s) = %s, nix says %s", d, got, want[i])
		}
		back, err := closure.DecodeNix32(want[i])
		if err != nil || !bytes.Equal(back, b) {
			t.Errorf("DecodeNix32(%s) = %x, %v; want %s", want[i], back, err, d)
		}
	}
}

func TestNix32(t *testing.T) {
	// A store path's 20-byte digest encodes to its 32-character hash part.
	if n := closure.EncodedNix32Len(20); n != closure.HashPartLen {
		t.Errorf("EncodedNix32Len(20) = %d, want %d", n, closure.HashPartLen)
	}
	// sha256("x"), from nix hash to-base32.
	x := sha256.Sum256([]byte("x"))
	if got, want := closure.EncodeNix32(x[:]), "10a83a91g1r50bdw8g4hn47m7j7m6angpabwc80l9c16nx11cw9d"; got != want {
		t.Errorf("EncodeNix32(sha256(x)) = %s, want %s", got, want)
	}
	rnd := rand.New(rand.NewPCG(5, 6))
	for n := range 70 {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rnd.Uint32())
		}
		s := closure.EncodeNix32(b)
		if len(s) != closure.EncodedNix32Len(n) {
			t.Fatalf("len(EncodeNix32(%d bytes)) = %d", n, len(s))
		}
		back, err := closure.DecodeNix32(s)
		if err != nil || !bytes.Equal(back, b) {
			t.Fatalf("round trip of %x: %x, %v", b, back, err)
		}
	}
	for _, bad := range []string{
		"10a83a91g1r50bdw8g4hn47m7j7m6angpabwc80l9c16nx11cw9e", // e is not in the alphabet
		"10a83a91g1r50bdw8g4hn47m7j7m6angpabwc80l9c16nx11cw9",  // 51 characters
		"z0a83a91g1r50bdw8g4hn47m7j7m6angpabwc80l9c16nx11cw9d", // bits past 256
	} {
		if b, err := closure.DecodeNix32(bad); err == nil {
			t.Errorf("DecodeNix32(%q) = %x, want an error", bad, b)
		}
	}
}

func TestParseHash(t *testing.T) {
	want := closure.Hash(sha256.Sum256([]byte("x")))
	forms := []string{
		"sha256:10a83a91g1r50bdw8g4hn47m7j7m6angpabwc80l9c16nx11cw9d",             // registration, nix-store -q --hash
		"sha256:" + hex.EncodeToString(want[:]),                                   // the Nix database
		"sha256-" + base64.StdEncoding.EncodeToString(want[:]),                    // SRI, nix path-info --json (2.8)
		"sha256:" + base64.StdEncoding.EncodeToString(want[:]),                    // newer nix path-info --json
		"sha256:2D711642B726B04401627CA9FBAC32F5C8530FB1903CC4DB02258717921A4881", // base16, upper case
	}
	for _, s := range forms {
		h, err := closure.ParseHash(s)
		if err != nil || h != want {
			t.Errorf("ParseHash(%q) = %v, %v; want %v", s, h, err, want)
		}
	}
	if want.String() != forms[0] || want.SRI() != forms[2] {
		t.Errorf("String() = %s, SRI() = %s", want.String(), want.SRI())
	}
	for _, bad := range []string{
		"", "sha256", "sha256:", "md5:10a83a91g1r50bdw8g4hn47m7j7m6angpabwc80l9c16nx11cw9d",
		"sha1:10a83a91g1r50bdw8g4hn47m7j7m6angpabwc80l9c16nx11cw9d",
		"sha256:10a83a91g1r50bdw8g4hn47m7j7m6angpabwc80l9c16nx11cw9", // a character short
		"sha256-" + base64.StdEncoding.EncodeToString(want[:16]),     // SRI of 16 bytes
		"sha256:" + hex.EncodeToString(want[:])[:62] + "zz",          // not hex
	} {
		if h, err := closure.ParseHash(bad); err == nil {
			t.Errorf("ParseHash(%q) = %v, want an error", bad, h)
		}
	}
}
