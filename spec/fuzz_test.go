package spec_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/gonixiso/gonixiso/spec"
)

// FuzzRead feeds Read any bytes: it never panics, and what it accepts holds what the pipeline
// relies on.
func FuzzRead(f *testing.F) {
	b, _ := json.Marshal(valid())
	f.Add(b)
	f.Add([]byte(`{"version":1}`))
	f.Add([]byte(`{"version":2}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := spec.Read(bytes.NewReader(data))
		if err != nil {
			return
		}
		if s.ISOImage.VolumeID == "" || len(s.ISOImage.VolumeID) > 32 || s.Toplevel == "" || s.Toplevel[0] != '/' {
			t.Errorf("accepted %+v", s)
		}
		for _, p := range s.StorePaths() {
			if p == "" || p[0] != '/' {
				t.Errorf("store path %q", p)
			}
		}
	})
}

// FuzzParseCompression: any string parses or is refused, never a panic.
func FuzzParseCompression(f *testing.F) {
	f.Add("xz -Xdict-size 100% -Xbcj x86")
	f.Add("zstd -Xcompression-level 19")
	f.Fuzz(func(t *testing.T, s string) {
		spec.ParseCompression(s, 1<<20)
	})
}
