package spec_test

import (
	"bytes"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/gonixiso/gonixiso/internal/testsystem"
	"github.com/gonixiso/gonixiso/spec"
	"github.com/gonixiso/gonixiso/squash"
)

func readFile(t *testing.T, p string) *spec.Spec {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, err := spec.Read(f)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestReadTestSpecs reads the specs that nix/spec.nix writes for the test flake's two
// configurations, built by real Nix.
func TestReadTestSpecs(t *testing.T) {
	def := readFile(t, testsystem.Spec(t, testsystem.Name))
	if def.Toplevel != testsystem.Toplevel(t) || def.ISOImage.VolumeID != testsystem.VolumeID ||
		!def.ISOImage.MakeBiosBootable || !def.ISOImage.MakeEfiBootable || *def.Boot.Loader.Timeout != 10 ||
		def.ISOImage.AppendToMenuLabel != " Installer" || def.Packages.Syslinux == nil {
		t.Errorf("default spec %+v", def)
	}
	if c, err := def.ISOImage.Compression(1 << 20); err != nil || c.Algorithm != squash.Zstd || c.Level != 19 {
		t.Errorf("default compression %+v %v", c, err)
	}

	custom := readFile(t, testsystem.Spec(t, testsystem.CustomName))
	im := custom.ISOImage
	if im.MakeBiosBootable || im.PrependToMenuLabel != "Try " || !im.CompressImage || len(im.Contents) != 2 ||
		len(im.StoreContents) != 1 || *custom.Boot.Loader.Timeout != 3 || !custom.Boot.Loader.Grub.Memtest86.Enable ||
		custom.Packages.Memtest86plusFile == nil || custom.Image.FileName != "gonixiso-custom-test.iso.zst" {
		t.Errorf("custom spec %+v", custom)
	}
	if got := custom.SpecialisationNames(); !slices.Equal(got, []string{"alt", "hidden"}) {
		t.Errorf("specialisations %v", got)
	}
	if c, err := im.Compression(1 << 20); err != nil || c.Algorithm != squash.XZ || !slices.Equal(c.BCJ, []string{"x86"}) {
		t.Errorf("custom compression %+v %v", c, err)
	}
	for _, p := range custom.StorePaths() {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("a store path of the spec is not realised by building it: %v", err)
		}
	}
}

// valid is a minimal spec; cases edit its JSON.
func valid() map[string]any {
	var m map[string]any
	json.Unmarshal([]byte(`{"version":1,"system":"x86_64-linux","toplevel":"/nix/store/a-system",
	"isoImage":{"volumeID":"v","edition":"","squashfsCompression":"zstd -Xcompression-level 19","makeEfiBootable":true,
	"makeBiosBootable":true,"makeUsbBootable":true,"prependToMenuLabel":"","appendToMenuLabel":" Installer",
	"configurationName":null,"showConfiguration":true,"forceTextMode":false,"splashImage":null,"efiSplashImage":null,
	"grubTheme":null,"syslinuxTheme":"","contents":[],"storeContents":[],"includeSystemBuildDependencies":false,
	"compressImage":false},"image":{"fileName":"x.iso","baseName":"x"},
	"boot":{"loader":{"timeout":10,"grub":{"memtest86":{"enable":false,"params":[]}}},"initrd":{"systemd":{"enable":false}}},
	"specialisation":{},"packages":{"grub2_efi":"/nix/store/g-grub","syslinux":"/nix/store/s-syslinux","memtest86plus":null,"memtest86plusFile":null}}`), &m)
	return m
}

func TestReadErrors(t *testing.T) {
	im := func(m map[string]any) map[string]any { return m["isoImage"].(map[string]any) }
	for _, tc := range []struct {
		name string
		edit func(m map[string]any)
		want string
	}{
		{"valid", func(m map[string]any) {}, ""},
		{"no version", func(m map[string]any) { delete(m, "version") }, "no version field"},
		{"version 2", func(m map[string]any) { m["version"] = 2 }, "format version 2"},
		{"unknown field", func(m map[string]any) { m["isoImages"] = 1 }, `unknown field "isoImages"`},
		{"missing field", func(m map[string]any) { delete(im(m), "contents") }, "isoImage.contents: missing"},
		{"aarch64", func(m map[string]any) { m["system"] = "aarch64-linux" }, "x86_64-linux systems only"},
		{"relative toplevel", func(m map[string]any) { m["toplevel"] = "result" }, "toplevel"},
		{"unclean path", func(m map[string]any) { im(m)["splashImage"] = "/nix/store/a/../../etc/shadow" }, "isoImage.splashImage"},
		{"long volume id", func(m map[string]any) { im(m)["volumeID"] = strings.Repeat("v", 33) }, "isoImage.volumeID"},
		{"nothing boots", func(m map[string]any) { im(m)["makeEfiBootable"] = false; im(m)["makeBiosBootable"] = false }, "nothing would boot"},
		{"BIOS without syslinux", func(m map[string]any) { m["packages"].(map[string]any)["syslinux"] = nil }, "packages.syslinux"},
		{"target climbs", func(m map[string]any) {
			im(m)["contents"] = []any{map[string]any{"source": "/nix/store/c-x", "target": "/a/../../etc"}}
		}, "climbs out"},
		{"file name with a folder", func(m map[string]any) { m["image"].(map[string]any)["fileName"] = "../x.iso" }, "image.fileName"},
		{"negative timeout", func(m map[string]any) {
			m["boot"].(map[string]any)["loader"].(map[string]any)["timeout"] = -1
		}, "boot.loader.timeout"},
		{"bad specialisation", func(m map[string]any) {
			m["specialisation"] = map[string]any{"../x": map[string]any{}}
		}, "invalid name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := valid()
			tc.edit(m)
			b, _ := json.Marshal(m)
			_, err := spec.Read(bytes.NewReader(b))
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
	if _, err := spec.Read(strings.NewReader(`{"version":1}{}`)); err == nil {
		t.Error("data after the object accepted")
	}
	if _, err := spec.Read(strings.NewReader(strings.Repeat(" ", spec.MaxSize+1))); err == nil {
		t.Error("an oversized spec accepted")
	}
}

// TestCompressionNull reads isoImage.squashfsCompression = null, for which nixpkgs has mksquashfs
// write with -no-compression: squash.None.
func TestCompressionNull(t *testing.T) {
	var im spec.ISOImage
	if c, err := im.Compression(1 << 20); err != nil || c.Algorithm != squash.None || c.Level != 0 || c.BCJ != nil {
		t.Errorf("null compression = %+v, %v; want none", c, err)
	}
}

func TestParseCompression(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want squash.Compression
		err  string
	}{
		{"zstd -Xcompression-level 19", squash.Compression{Algorithm: squash.Zstd, Level: 19}, ""},
		{"zstd", squash.Compression{Algorithm: squash.Zstd}, ""},
		{"xz -Xdict-size 100% -Xbcj x86", squash.Compression{Algorithm: squash.XZ, BCJ: []string{"x86"}}, ""},
		{"xz -Xdict-size 1M", squash.Compression{Algorithm: squash.XZ}, ""},
		{"xz -Xbcj x86,arm", squash.Compression{Algorithm: squash.XZ, BCJ: []string{"x86", "arm"}}, ""},
		{"gzip -Xcompression-level 1", squash.Compression{Algorithm: squash.Gzip, Level: 1}, ""},
		{"lz4 -Xhc", squash.Compression{Algorithm: squash.LZ4, Level: 1}, ""},
		{"xz -Xdict-size 50%", squash.Compression{}, "dictionary of the block size"},
		{"lzo", squash.Compression{}, `compressor "lzo"`},
		{"gzip -Xwindow-size 8", squash.Compression{}, `option "-Xwindow-size"`},
		{"zstd -Xcompression-level", squash.Compression{}, "needs a value"},
		{"zstd -Xcompression-level x", squash.Compression{}, "want a level"},
		{"", squash.Compression{}, "no compressor"},
		{"none", squash.Compression{}, "null for none"}, // mksquashfs has no -comp none
	} {
		got, err := spec.ParseCompression(tc.in, 1<<20)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got.Algorithm != tc.want.Algorithm || got.Level != tc.want.Level || !slices.Equal(got.BCJ, tc.want.BCJ) {
			t.Errorf("%q = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}
