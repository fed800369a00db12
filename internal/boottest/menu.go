package boottest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"

	"github.com/gonixiso/gonixiso/boot"
)

func numCPU() int { return runtime.NumCPU() }

// EntryIndex finds the position, among the top-level items of the boot menu that mode shows
// (isolinux.cfg for BIOS, /EFI/BOOT/grub.cfg for UEFI), of the entry that boots specialisation
// name. It reads the menu out of the image with xorriso and parses it with boot's parsers. The
// entry is the one whose init= is the specialisation's toplevel, found through the main entry's
// toplevel on this machine's store: <main toplevel>/specialisation/<name>. Menu titles cannot
// say it, since nixpkgs gives every configuration the same title unless it sets a
// configurationName.
func EntryIndex(ctx context.Context, iso string, mode Mode, name string) (int, error) {
	cfgPath, parse := boot.IsolinuxConfigPath, boot.ParseIsolinux
	if mode.UEFI() {
		cfgPath, parse = boot.GrubConfigPath, boot.ParseGrub
	}
	text, err := extract(ctx, iso, cfgPath)
	if err != nil {
		return 0, err
	}
	var top []boot.MenuEntry
	for _, e := range parse([]byte(text)) {
		if len(e.Menu) == 0 {
			top = append(top, e)
		}
	}
	init := func(e boot.MenuEntry) string {
		m := initRE.FindStringSubmatch(e.Params)
		if m == nil {
			return ""
		}
		return m[1]
	}
	if len(top) == 0 || init(top[0]) == "" {
		return 0, fmt.Errorf("boottest: %s:%s: no boot entry with init= at the top level", iso, cfgPath)
	}
	mainTop := strings.TrimSuffix(init(top[0]), "/init")
	specTop, err := filepath.EvalSymlinks(filepath.Join(mainTop, "specialisation", name))
	if err != nil {
		return 0, fmt.Errorf("boottest: specialisation %q of %s: %w", name, mainTop, err)
	}
	for _, e := range top {
		if init(e) == specTop+"/init" {
			return e.Position, nil
		}
	}
	return 0, fmt.Errorf("boottest: %s:%s: no top-level entry boots %s", iso, cfgPath, specTop)
}

// extract reads one file out of an ISO image with xorriso.
func extract(ctx context.Context, iso, path string) (string, error) {
	dir, err := os.MkdirTemp("", "gonixiso-menu-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	dst := filepath.Join(dir, "cfg")
	cmd := exec.CommandContext(ctx, "xorriso", "-osirrox", "on", "-indev", iso, "-extract", path, dst)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("boottest: xorriso -extract %s from %s: %v\n%s", path, iso, err, out)
	}
	b, err := os.ReadFile(dst)
	return string(b), err
}

var initRE = regexp.MustCompile(`(?:^|\s)init=(\S+)`)
