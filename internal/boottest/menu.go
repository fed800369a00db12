package boottest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
)

func numCPU() int { return runtime.NumCPU() }

// EntryIndex finds the position, among the top-level items of the boot menu that mode shows
// (isolinux.cfg for BIOS, /EFI/BOOT/grub.cfg for UEFI), of the entry that boots specialisation
// name. It reads the menu out of the image with xorriso. The entry is the one whose init= is the
// specialisation's toplevel, found through the main entry's toplevel on this machine's store:
// <main toplevel>/specialisation/<name>. Menu titles cannot say it, since nixpkgs gives every
// configuration the same title unless it sets a configurationName.
func EntryIndex(ctx context.Context, iso string, mode Mode, name string) (int, error) {
	cfgPath := "/isolinux/isolinux.cfg"
	if mode.UEFI() {
		cfgPath = "/EFI/BOOT/grub.cfg"
	}
	text, err := extract(ctx, iso, cfgPath)
	if err != nil {
		return 0, err
	}
	var inits []string
	if mode.UEFI() {
		inits = grubTopLevel(text)
	} else {
		inits = isolinuxTopLevel(text)
	}
	if len(inits) == 0 || inits[0] == "" {
		return 0, fmt.Errorf("boottest: %s:%s: no boot entry with init= at the top level", iso, cfgPath)
	}
	mainTop := strings.TrimSuffix(inits[0], "/init")
	specTop, err := filepath.EvalSymlinks(filepath.Join(mainTop, "specialisation", name))
	if err != nil {
		return 0, fmt.Errorf("boottest: specialisation %q of %s: %w", name, mainTop, err)
	}
	for i, init := range inits {
		if init == specTop+"/init" {
			return i, nil
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

// isolinuxTopLevel lists the init= of each top-level menu item of an isolinux.cfg, in menu order;
// a submenu (MENU BEGIN) counts as one item with no init.
func isolinuxTopLevel(cfg string) []string {
	var items []string
	depth := 0
	cur := -1
	sc := bufio.NewScanner(strings.NewReader(cfg))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		kw := strings.ToUpper(f[0])
		switch {
		case kw == "MENU" && len(f) > 1 && strings.EqualFold(f[1], "BEGIN"):
			if depth == 0 {
				items = append(items, "")
				cur = -1
			}
			depth++
		case kw == "MENU" && len(f) > 1 && strings.EqualFold(f[1], "END"):
			depth--
		case kw == "LABEL" && depth == 0:
			items = append(items, "")
			cur = len(items) - 1
		case (kw == "APPEND" || kw == "KERNEL" || kw == "LINUX") && depth == 0 && cur >= 0:
			if m := initRE.FindStringSubmatch(sc.Text()); m != nil {
				items[cur] = m[1]
			}
		}
	}
	return items
}

// grubTopLevel lists the init= of each top-level menuentry or submenu of a grub.cfg, in order.
// hiddenentry items are not shown in the menu and do not count.
func grubTopLevel(cfg string) []string {
	var items []string
	depth := 0
	cur := -1
	sc := bufio.NewScanner(strings.NewReader(cfg))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) > 0 && depth == 0 {
			switch f[0] {
			case "menuentry":
				items = append(items, "")
				cur = len(items) - 1
			case "submenu":
				items = append(items, "")
				cur = -1
			case "hiddenentry":
				cur = -1
			}
		}
		if depth == 1 && cur >= 0 && len(f) > 0 && f[0] == "linux" {
			if m := initRE.FindStringSubmatch(line); m != nil {
				items[cur] = m[1]
			}
		}
		depth += strings.Count(line, "{") - strings.Count(line, "}")
	}
	return items
}
