package closure

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const (
	fixtureA   = "/nix/store/7yj4c3hq0d4j8yjcwkz6rmwxs2g9zbqb-a"
	fixtureB   = "/nix/store/ppkfajxkvpn0mkpqn8q4fpqg1mnkmdgn-b"
	fixtureDrv = "/nix/store/xxx0c3hq0d4j8yjcwkz6rmwxs2g9zbqb-a.drv"
)

// TestParsePathInfoForms parses the three shapes of `nix path-info --json`: Nix 2.8's list
// (SRI hashes), later Nix's object keyed by path, and the newest object with structured hashes
// and base names beside a storeDir. All give the same paths.
func TestParsePathInfoForms(t *testing.T) {
	want := []Path{
		{Path: fixtureA, NarHash: sha256.Sum256([]byte("a")), NarSize: 1200, References: []string{fixtureA, fixtureB}, Deriver: fixtureDrv},
		{Path: fixtureB, NarHash: sha256.Sum256([]byte("b")), NarSize: 96},
	}
	for _, name := range []string{"path-info-list.json", "path-info-object.json", "path-info-object-v2.json"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		got, err := parsePathInfo(data, DefaultStoreDir)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n%+v\nwant\n%+v", name, got, want)
		}
	}
}

func TestParsePathInfoRejects(t *testing.T) {
	for _, tc := range []struct{ json, want string }{
		{`[{"path":"` + fixtureB + `","valid":false}]`, "not a valid path"},
		{`{"` + fixtureB + `":null}`, "not a valid path"},
		{`[{"path":"` + fixtureB + `","narSize":1}]`, "narHash: missing"},
		{`[{"path":"` + fixtureB + `","narHash":"sha256-ypeBEsobvcr6wjGzmiPcTaeG7/gUfE5yuYB3ha/uSLs="}]`, "no narSize"},
		{`[{"path":"` + fixtureB + `","narHash":"md5-xyz","narSize":1}]`, "not a sha256 hash"},
		{`[{"path":"` + fixtureB + `","narHash":{"algorithm":"sha512","format":"base16","hash":"00"},"narSize":1}]`, "algorithm"},
		{`[{"path":"` + fixtureB + `","narHash":{"algorithm":"sha256","format":"base7","hash":"00"},"narSize":1}]`, "format"},
		{`[{"narHash":"sha256-ypeBEsobvcr6wjGzmiPcTaeG7/gUfE5yuYB3ha/uSLs=","narSize":1}]`, "without a path"},
		{`[{"path":"` + fixtureB + `","narHash":"sha256-ypeBEsobvcr6wjGzmiPcTaeG7/gUfE5yuYB3ha/uSLs=","narSize":-1}]`, "cannot unmarshal"},
		{`"just a string"`, "want a list or an object"},
		{``, "want a list or an object"},
	} {
		_, err := parsePathInfo([]byte(tc.json), DefaultStoreDir)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parsePathInfo(%s) = %v, want an error containing %q", tc.json, err, tc.want)
		}
	}
}
