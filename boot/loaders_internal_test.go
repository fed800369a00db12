package boot

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoadersNowhere: a system whose closure has no bootloaders, on a host without them, gets
// errors that say what was looked for and how to provide it.
func TestLoadersNowhere(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	for _, v := range []*string{&hostIsolinux, &hostSyslinuxModules, &hostGrubMkimage, &hostGrubModules, &hostGrubFont} {
		old := *v
		*v = filepath.Join(missing, old)
		t.Cleanup(func() { *v = old })
	}
	sys := &System{Toplevel: t.TempDir(), ExtraDependencies: []string{t.TempDir()}}
	for _, host := range []bool{false, true} {
		hint := "iso-image.nix"
		if host {
			hint = missing
		}
		_, err := FindLoaders(HostStore, sys, Options{StorePaths: []string{t.TempDir()}, HostBootloaders: host})
		if !errors.Is(err, ErrNoBootloader) || !strings.Contains(err.Error(), "no syslinux") || !strings.Contains(err.Error(), hint) {
			t.Errorf("host %v: error %v, want one about syslinux naming %s", host, err, hint)
		}
		_, err = FindLoaders(HostStore, sys, Options{NoBIOS: true, HostBootloaders: host})
		if !errors.Is(err, ErrNoBootloader) || !strings.Contains(err.Error(), "no GRUB for x86_64-efi") || !strings.Contains(err.Error(), hint) {
			t.Errorf("host %v: error %v, want one about GRUB naming %s", host, err, hint)
		}
	}
	if l, err := FindLoaders(HostStore, sys, Options{NoBIOS: true, NoUEFI: true}); err != nil || l.Syslinux != nil || l.GrubMkimage != "" {
		t.Errorf("nothing asked for, got %+v, %v", l, err)
	}
}

// TestMkimageFails: grub-mkimage's complaint reaches the caller.
func TestMkimageFails(t *testing.T) {
	l := &Loaders{GrubMkimage: "/bin/false", GrubModules: t.TempDir()}
	if _, err := l.mkimage(context.Background(), HostStore, nil, nil, nil); err == nil || !strings.Contains(err.Error(), "/bin/false") {
		t.Errorf("error %v, want one naming the program", err)
	}
}
