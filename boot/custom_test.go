package boot_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/gonixiso/gonixiso/boot"
	"github.com/gonixiso/gonixiso/internal/testsystem"
	"github.com/gonixiso/gonixiso/spec"
)

func ptr[T any](v T) *T { return &v }

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// customSystem reads the ISO spec of the test flake's custom configuration (every isoImage
// option away from its default) and its toplevel, and turns the spec into boot.Options field by
// field, as the pipeline must: the reference of what each option of the spec sets.
func customSystem(t *testing.T) (*boot.System, boot.Options, *spec.Spec) {
	t.Helper()
	f, err := os.Open(testsystem.Spec(t, testsystem.CustomName))
	must(t, err)
	defer f.Close()
	s, err := spec.Read(f)
	must(t, err)
	sys, err := boot.ReadSystem(boot.HostStore, s.Toplevel)
	must(t, err)
	return sys, specOptions(t, s), s
}

func specOptions(t *testing.T, s *spec.Spec) boot.Options {
	t.Helper()
	iso := s.ISOImage
	opts := boot.Options{
		VolumeID:           iso.VolumeID,
		Timeout:            s.Boot.Loader.Timeout,
		NoBIOS:             !iso.MakeBiosBootable,
		NoUEFI:             !iso.MakeEfiBootable,
		NoUSB:              !iso.MakeUsbBootable,
		PrependToMenuLabel: iso.PrependToMenuLabel,
		AppendToMenuLabel:  ptr(iso.AppendToMenuLabel),
		ConfigurationName:  deref(iso.ConfigurationName),
		Entries:            map[string]boot.EntryOptions{"": {Hidden: !iso.ShowConfiguration}},
		ForceTextMode:      iso.ForceTextMode,
		SplashImage:        deref(iso.SplashImage),
		EFISplashImage:     deref(iso.EFISplashImage),
		SyslinuxTheme:      ptr(iso.SyslinuxTheme),
	}
	if opts.Timeout == nil {
		opts.Timeout = ptr(-1) // null: wait for a choice
	}
	for _, name := range s.SpecialisationNames() {
		c := s.Specialisation[name].Configuration.ISOImage
		opts.Entries[name] = boot.EntryOptions{
			PrependToMenuLabel: ptr(c.PrependToMenuLabel),
			AppendToMenuLabel:  ptr(c.AppendToMenuLabel),
			ConfigurationName:  ptr(deref(c.ConfigurationName)),
			Hidden:             !c.ShowConfiguration,
		}
	}
	if iso.GrubTheme != nil {
		th, err := boot.ReadGrubTheme(boot.HostStore, *iso.GrubTheme)
		must(t, err)
		opts.GrubTheme = th
	}
	if s.Boot.Loader.Grub.Memtest86.Enable {
		opts.Memtest = *s.Packages.Memtest86plusFile
		opts.MemtestParams = s.Boot.Loader.Grub.Memtest86.Params
	}
	if p := s.Packages.Syslinux; p != nil {
		opts.Syslinux = filepath.Join(*p, "share/syslinux")
	}
	if p := s.Packages.Grub2EFI; p != nil {
		opts.Grub = *p
	}
	return opts
}
