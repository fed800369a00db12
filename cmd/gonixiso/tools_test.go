package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gonixiso/gonixiso/internal/testsystem"
	"github.com/gonixiso/gonixiso/liveiso"
)

// copyWithVolumeID writes a copy of iso, with the primary volume descriptor's volume id
// replaced by id when id is not empty.
func copyWithVolumeID(t *testing.T, iso, id string) string {
	t.Helper()
	data, err := os.ReadFile(iso)
	if err != nil {
		t.Fatal(err)
	}
	if id != "" {
		// ECMA-119 8.4.6: 32 characters at byte 40 of the descriptor in sector 16.
		const field = 16*2048 + 40
		copy(data[field:field+32], fmt.Sprintf("%-32s", id))
	}
	out := filepath.Join(t.TempDir(), "copy.iso")
	if err := os.WriteFile(out, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDiffExitStatus(t *testing.T) {
	iso := testsystem.BaselineISO(t)
	same := copyWithVolumeID(t, iso, "")
	other := copyWithVolumeID(t, iso, "ANOTHER_ID")
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.iso")
	if err := os.WriteFile(junk, []byte("no ISO here\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.iso")

	out, _, err := run(t, "diff", iso, same)
	if err != nil || !strings.Contains(out, "identical") {
		t.Errorf("identical files: err %v, output %q; want exit 0", err, out)
	}
	out, _, err = run(t, "diff", iso, other)
	if exitCode(err) != 1 || err == nil || !strings.Contains(out, `volume id "gonixiso-test-x86_64" → "ANOTHER_ID"`) ||
		!strings.Contains(err.Error(), "differ") {
		t.Errorf("different files: err %v (exit %d), output %q; want exit 1 and the volume id", err, exitCode(err), out)
	}
	out, _, err = run(t, "diff", "--json", iso, other)
	var rep liveiso.DiffReport
	if exitCode(err) != 1 || json.Unmarshal([]byte(out), &rep) != nil || rep.Identical || len(rep.Differences) != 1 ||
		rep.Differences[0].Level != liveiso.LevelISO {
		t.Errorf("--json: err %v, report %+v from %q", err, rep, out)
	}
	for _, c := range []struct {
		args []string
		name string // what the error must name
	}{
		{[]string{"diff", iso, junk}, junk},
		{[]string{"diff", missing, iso}, missing},
		{[]string{"diff", iso}, "want 2 ISO files"},
		{[]string{"diff", iso, same, other}, "want 2 ISO files"},
		{[]string{"diff", iso, same, "--json"}, "want 2 ISO files"},
		{[]string{"diff", iso, "--json"}, "flag --json after the files"},
		{[]string{"diff", "--no-such-flag", iso, same}, "no-such-flag"},
	} {
		_, _, err := run(t, c.args...)
		if exitCode(err) != 2 || err == nil || !strings.Contains(err.Error(), c.name) {
			t.Errorf("%v: err %v (exit %d), want exit 2 naming %q", c.args, err, exitCode(err), c.name)
		}
	}
}

func TestInspectCommand(t *testing.T) {
	iso := testsystem.BaselineISO(t)
	out, _, err := run(t, "inspect", iso)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`volume id      "` + testsystem.VolumeID + `"`, "El Torito boot catalog at sector",
		"/isolinux/isolinux.bin", "/boot/efi.img", "GPT: disk", "zstd level 19", "boot-alt", "Store paths: ",
		"gonixiso.specialisation=alt", "the store paths' costs are an estimate", "= the SquashFS's size"} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect does not print %q:\n%s", want, out)
		}
	}
	out, _, err = run(t, "inspect", "--json", "--sort", "size", iso)
	if err != nil {
		t.Fatal(err)
	}
	var ins liveiso.Inspection
	if err := json.Unmarshal([]byte(out), &ins); err != nil {
		t.Fatalf("--json: %v", err)
	}
	if ins.Primary.VolumeID != testsystem.VolumeID || ins.SquashFS == nil || len(ins.StorePaths) < 2 {
		t.Fatalf("--json: %+v", ins)
	}
	for i := 1; i < len(ins.StorePaths); i++ {
		if ins.StorePaths[i].Cost > ins.StorePaths[i-1].Cost {
			t.Errorf("--sort size: %s (cost %d) after %s (%d)", ins.StorePaths[i].Path, ins.StorePaths[i].Cost,
				ins.StorePaths[i-1].Path, ins.StorePaths[i-1].Cost)
		}
	}
	if k := ins.SquashFS.Costs; k == nil || k.Total != ins.SquashFS.Size || k.Basis != liveiso.CostEstimate {
		t.Errorf("--json: costs %+v of a SquashFS of %d bytes; want mksquashfs's costs estimated, adding up", k, ins.SquashFS.Size)
	}
	out, _, err = run(t, "inspect", "--json", "--sort", "uncompressed", iso)
	if err != nil {
		t.Fatal(err)
	}
	ins = liveiso.Inspection{}
	if err := json.Unmarshal([]byte(out), &ins); err != nil {
		t.Fatalf("--json: %v", err)
	}
	for i := 1; i < len(ins.StorePaths); i++ {
		if ins.StorePaths[i].Size > ins.StorePaths[i-1].Size {
			t.Errorf("--sort uncompressed: %s (%d) after %s (%d)", ins.StorePaths[i].Path, ins.StorePaths[i].Size,
				ins.StorePaths[i-1].Path, ins.StorePaths[i-1].Size)
		}
	}
	if _, _, err := run(t, "inspect", "--sort", "age", iso); exitCode(err) != 2 {
		t.Errorf("--sort age: err %v (exit %d), want exit 2", err, exitCode(err))
	}
	missing := filepath.Join(t.TempDir(), "missing.iso")
	if _, _, err := run(t, "inspect", missing); exitCode(err) != 2 || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing file: err %v (exit %d), want exit 2 naming it", err, exitCode(err))
	}
}

func TestManifestCommand(t *testing.T) {
	iso := testsystem.BaselineISO(t)
	text, _, err := run(t, "manifest", iso)
	if err != nil {
		t.Fatal(err)
	}
	js, _, err := run(t, "manifest", "--json", iso)
	if err != nil {
		t.Fatal(err)
	}
	var entries []liveiso.ManifestEntry
	if err := json.Unmarshal([]byte(js), &entries); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) != len(entries) || len(entries) < 100 {
		t.Fatalf("%d lines, %d JSON entries", len(lines), len(entries))
	}
	for i, l := range lines {
		f := strings.Split(l, "\t")
		e := entries[i]
		last := "-"
		switch {
		case e.SHA256 != "":
			last = e.SHA256
		case e.Type == "symlink":
			last = e.Target
		}
		if len(f) != 5 || f[0] != e.Path || f[1] != e.Type || f[2] != e.Mode || f[3] != fmt.Sprint(e.Size) || f[4] != last {
			t.Fatalf("line %d %q does not match %+v", i, l, e)
		}
	}
	if !strings.Contains(text, "\n/nix/store/nix-path-registration\tfile\t") {
		t.Error("the manifest lacks the SquashFS's registration")
	}
}

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"/nix/store/plain":  "/nix/store/plain",
		"sp ace ü":          "sp ace ü",
		"tab\there":         `tab\there`,
		"new\nline":         `new\nline`,
		`back\slash`:        `back\\slash`,
		"bell\a del\x7f":    `bell\x07 del\x7f`,
		"latin1 \xe9 bytes": `latin1 \xe9 bytes`,
		"cut utf8 \xc3":     `cut utf8 \xc3`,
		"\\x41 is not an A": `\\x41 is not an A`,
	} {
		if got := escape(in); got != want {
			t.Errorf("escape(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestReadLimit: --read-limit raises (or lowers) the readers' limits, and an error past one
// names the flag that raises it.
func TestReadLimit(t *testing.T) {
	iso := testsystem.BaselineISO(t)
	other := copyWithVolumeID(t, iso, "ANOTHER_ID")
	for _, cmd := range [][]string{{"inspect"}, {"manifest"}, {"diff", other}} {
		args := append(append([]string{cmd[0], "--read-limit", "metadata=64K"}, cmd[1:]...), iso)
		_, _, err := run(t, args...)
		if exitCode(err) != 2 || err == nil || !strings.Contains(err.Error(), "--read-limit metadata=SIZE") {
			t.Errorf("%v: err %v (exit %d), want exit 2 naming --read-limit metadata=SIZE", args, err, exitCode(err))
		}
		args = append(append([]string{cmd[0], "--read-limit", "4x,entries=1G"}, cmd[1:]...), iso)
		if _, _, err := run(t, args...); err != nil && exitCode(err) != 1 {
			t.Errorf("%v: %v", args, err)
		}
	}
	for _, bad := range []string{"0.5x", "lots", "contents=", "speed=4G", "contents=-1"} {
		_, _, err := run(t, "inspect", "--read-limit", bad, iso)
		if exitCode(err) != 2 || err == nil || !strings.Contains(err.Error(), "--read-limit") {
			t.Errorf("--read-limit %q: err %v (exit %d), want a usage error", bad, err, exitCode(err))
		}
	}
}

// TestHTMLReports: inspect --html and diff --html write one self-contained page each, with a
// tile per store path (liveiso's tests open them in Chromium).
func TestHTMLReports(t *testing.T) {
	iso := testsystem.BaselineISO(t)
	other := copyWithVolumeID(t, iso, "ANOTHER_ID")
	dir := t.TempDir()
	out, _, err := run(t, "inspect", "--json", iso)
	if err != nil {
		t.Fatal(err)
	}
	var ins liveiso.Inspection
	if err := json.Unmarshal([]byte(out), &ins); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		exit int
	}{
		{[]string{"inspect", "--html", filepath.Join(dir, "inspect.html"), iso}, 0},
		{[]string{"diff", "--html", filepath.Join(dir, "diff.html"), iso, other}, 1},
	} {
		if _, _, err := run(t, c.args...); exitCode(err) != c.exit && !(err == nil && c.exit == 0) {
			t.Fatalf("%v: %v", c.args, err)
		}
		page, err := os.ReadFile(c.args[2])
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(string(page), `<rect class="sp`); n != len(ins.StorePaths) || !strings.Contains(string(page), "</html>") {
			t.Errorf("%v: %d store path tiles, want %d", c.args, n, len(ins.StorePaths))
		}
	}
	if _, _, err := run(t, "inspect", "--html", filepath.Join(dir, "missing", "r.html"), iso); exitCode(err) != 2 ||
		err == nil || !strings.Contains(err.Error(), "--html") {
		t.Errorf("--html into a missing folder: %v (exit %d), want exit 2 naming --html", err, exitCode(err))
	}
}
