package closure

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzReadRegistration: any input is read without a panic, and what reads writes back to a
// registration that reads to the same records (derivers aside, which WriteRegistration leaves
// out).
func FuzzReadRegistration(f *testing.F) {
	f.Add([]byte(""))
	f.Add([]byte(fixtureA + "\nsha256:10a83a91g1r50bdw8g4hn47m7j7m6angpabwc80l9c16nx11cw9d\n1200\n\n2\n" + fixtureA + "\n" + fixtureB + "\n" +
		fixtureB + "\nsha256:2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881\n96\n" + fixtureDrv + "\n0"))
	f.Add([]byte(fixtureA + "\nsha256-LXEWQrcmsEQBYnyp+6wy9chTD7GQPMTbAiWHF5IaSIE=\n1\n\n99999999\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		paths, err := ReadRegistration(bytes.NewReader(data))
		if err != nil {
			return
		}
		var first, second bytes.Buffer
		if err := (&Closure{Paths: paths}).WriteRegistration(&first); err != nil {
			t.Fatal(err)
		}
		back, err := ReadRegistration(bytes.NewReader(first.Bytes()))
		if err != nil {
			t.Fatalf("re-reading a written registration: %v\n%s", err, first.Bytes())
		}
		if err := (&Closure{Paths: back}).WriteRegistration(&second); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first.Bytes(), second.Bytes()) {
			t.Fatalf("registration not stable under a round trip:\n%s\nvs\n%s", first.Bytes(), second.Bytes())
		}
	})
}

// FuzzParsePathInfo: any input is parsed without a panic, and a parsed path has a path.
func FuzzParsePathInfo(f *testing.F) {
	for _, name := range []string{"path-info-list.json", "path-info-object.json", "path-info-object-v2.json"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"x":null}`))
	f.Add([]byte(`[{"path":"a","narHash":{"algorithm":"sha256","format":"nix32","hash":""},"narSize":0}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		paths, err := parsePathInfo(data, DefaultStoreDir)
		if err != nil {
			return
		}
		for _, p := range paths {
			if p.Path == "" {
				t.Fatalf("a parsed path without a path: %+v", p)
			}
		}
	})
}
