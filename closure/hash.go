package closure

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// Hash is a SHA-256 digest: a store path's NAR hash.
type Hash [sha256.Size]byte

// String returns the hash as Nix writes it in registrations: "sha256:" and its Nix32 encoding.
func (h Hash) String() string {
	return sha256Prefix + ":" + EncodeNix32(h[:])
}

// SRI returns the hash in Subresource Integrity form, "sha256-" and its base64 encoding, as
// `nix path-info --json` gives it.
func (h Hash) SRI() string {
	return sha256Prefix + "-" + base64.StdEncoding.EncodeToString(h[:])
}

// ParseHash parses a SHA-256 hash in every form Nix writes one: "sha256:" followed by Nix32
// (52 characters), base16 (64) or base64 (44), and SRI, "sha256-" followed by base64.
func ParseHash(s string) (Hash, error) {
	var h Hash
	var digest string
	var sri bool
	switch {
	case strings.HasPrefix(s, sha256Prefix+":"):
		digest = s[len(sha256Prefix)+1:]
	case strings.HasPrefix(s, sha256Prefix+"-"):
		digest, sri = s[len(sha256Prefix)+1:], true
	default:
		return h, fmt.Errorf("hash %q: not a sha256 hash (want sha256:... or sha256-...)", s)
	}
	b, err := decodeDigest(digest, sri)
	if err != nil {
		return h, fmt.Errorf("hash %q: %w", s, err)
	}
	copy(h[:], b)
	return h, nil
}

// decodeDigest decodes a SHA-256 digest, telling the encoding by its length as Nix does.
func decodeDigest(s string, sri bool) ([]byte, error) {
	var b []byte
	var err error
	switch {
	case sri || len(s) == base64.StdEncoding.EncodedLen(sha256.Size):
		b, err = base64.StdEncoding.Strict().DecodeString(s)
	case len(s) == hex.EncodedLen(sha256.Size):
		b, err = hex.DecodeString(s)
	case len(s) == EncodedNix32Len(sha256.Size):
		b, err = DecodeNix32(s)
	default:
		return nil, fmt.Errorf("%d characters fit no encoding of a sha256 digest", len(s))
	}
	if err != nil {
		return nil, err
	}
	if len(b) != sha256.Size {
		return nil, fmt.Errorf("digest of %d bytes, want %d", len(b), sha256.Size)
	}
	return b, nil
}

// EncodedNix32Len returns the length of the Nix32 encoding of n bytes.
func EncodedNix32Len(n int) int {
	if n == 0 {
		return 0
	}
	return (n*8-1)/5 + 1
}

// EncodeNix32 returns the Nix32 encoding of b, as Nix's printHash32 writes it: the string's
// last character holds b's least significant 5 bits.
func EncodeNix32(b []byte) string {
	n := EncodedNix32Len(len(b))
	s := make([]byte, n)
	for i := range n {
		bit := (n - 1 - i) * 5
		byteIdx, shift := bit/8, uint(bit%8)
		c := b[byteIdx] >> shift
		if byteIdx+1 < len(b) {
			c |= b[byteIdx+1] << (8 - shift)
		}
		s[i] = Nix32Alphabet[c&0x1f]
	}
	return string(s)
}

var nix32Values = func() (v [256]int8) {
	for i := range v {
		v[i] = -1
	}
	for i := range len(Nix32Alphabet) {
		v[Nix32Alphabet[i]] = int8(i)
	}
	return v
}()

// DecodeNix32 decodes a Nix32 string. Its length must be that of an encoding (EncodedNix32Len),
// and bits past the decoded length must be zero, so every byte string has one encoding.
func DecodeNix32(s string) ([]byte, error) {
	n := len(s) * 5 / 8
	if EncodedNix32Len(n) != len(s) {
		return nil, fmt.Errorf("nix32: %d characters is not the length of an encoding", len(s))
	}
	b := make([]byte, n)
	for i := range len(s) {
		c := s[len(s)-1-i]
		d := nix32Values[c]
		if d < 0 {
			return nil, fmt.Errorf("nix32: invalid character %q", c)
		}
		bit := i * 5
		byteIdx, shift := bit/8, uint(bit%8)
		b[byteIdx] |= byte(d) << shift
		carry := byte(d) >> (8 - shift)
		if shift > 3 { // the digit spans two bytes
			if byteIdx+1 < n {
				b[byteIdx+1] |= carry
			} else if carry != 0 {
				return nil, fmt.Errorf("nix32: %q has bits past its %d bytes", s, n)
			}
		}
	}
	return b, nil
}
