package fuzzrecipe

import (
	"bytes"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	base := bytes.Repeat([]byte("0123456789"), 100)
	long := bytes.Clone(base)
	for i := 100; i < 700; i++ {
		long[i] ^= 0xff // a run longer than one record holds
	}
	for _, corrupt := range [][]byte{
		base,
		append(bytes.Clone(base[:10]), 'x'),
		base[:0],
		base[:999],
		long,
		append([]byte{'x'}, base[1:500]...),
	} {
		if got := Patch(base, Records(base, corrupt)); !bytes.Equal(got, corrupt) {
			t.Errorf("Patch(Records) gives %d bytes, not the %d-byte variant", len(got), len(corrupt))
		}
	}
}

func TestPatchEdges(t *testing.T) {
	base := []byte("abcdefgh")
	for _, c := range []struct {
		records []byte
		want    string
	}{
		{nil, "abcdefgh"},
		{[]byte{1, 0, 0}, "abcdefgh"},                   // too short for a record
		{[]byte{3, 0, 0, 0}, "abc"},                     // no length byte: truncate
		{[]byte{2, 0, 0, 0, 0}, "ab"},                   // length 0: truncate
		{[]byte{10, 0, 0, 0, 2, 'X', 'Y'}, "abXYefgh"},  // offset modulo the size
		{[]byte{6, 0, 0, 0, 5, 'X', 'Y'}, "abcdefXY"},   // fewer bytes than the length
		{[]byte{0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 'X'}, ""}, // truncated to nothing: the rest is ignored
	} {
		if got := string(Patch(base, c.records)); got != c.want {
			t.Errorf("Patch(%q) = %q, want %q", c.records, got, c.want)
		}
	}
}
