package boot

import (
	"fmt"
	"strconv"
	"strings"
)

// Menus are a system's boot menus and configuration files, as text. They are what iso-image.nix
// renders from its templates, character for character in nixpkgs' configuration (NoSerial, an
// EFISplashImage): the whitespace of Nix's indented strings, the "/boot//nix/store/..." paths,
// the literal ${isoboot}, the trailing space after parameters.
type Menus struct {
	// VolumeID is the ISO's volume id, from root=LABEL= or Options.VolumeID.
	VolumeID string
	// SystemdInitrd tells that the main configuration boots with a systemd initrd: its kernel
	// parameters have no root=, and there is no loopback.cfg (nixpkgs drops findiso there).
	SystemdInitrd bool
	// Isolinux is /isolinux/isolinux.cfg; nil without BIOS boot.
	Isolinux []byte
	// Grub is /EFI/BOOT/grub.cfg, in the ISO tree and in the EFI system partition; nil without
	// UEFI boot.
	Grub []byte
	// GrubEmbedded is the configuration built into BOOTX64.EFI: it finds the ISO volume by its
	// marker file and loads the grub.cfg there.
	GrubEmbedded []byte
	// Loopback is /boot/grub/loopback.cfg, for GRUBs that boot the ISO file from a disk; nil
	// without UEFI boot or with a systemd initrd.
	Loopback []byte
}

// The serial line both menus use: the first port at 115200 baud.
const grubSerial = "serial --unit=0 --speed=115200"

// An option is one of the Options submenus: the same entries with extra kernel parameters
// (iso-image.nix's optionsSubMenus, in its order).
type option struct {
	title, class string
	params       []string
}

var options = []option{
	{"Copy ISO Files to RAM", "copytoram", []string{"copytoram"}},
	{"No modesetting", "nomodeset", []string{"nomodeset"}},
	{"Debug Console Output", "debug", []string{"debug"}},
	{"Disable display-manager", "quirk-disable-displaymanager", []string{"systemd.mask=display-manager.service", "plymouth.enable=0"}},
	{"Rotate framebuffer Clockwise", "rotate-90cw", []string{"fbcon=rotate:1"}},
	{"Rotate framebuffer Upside-Down", "rotate-180", []string{"fbcon=rotate:2"}},
	{"Rotate framebuffer Counter-Clockwise", "rotate-90ccw", []string{"fbcon=rotate:3"}},
	{"Serial console=ttyS0,115200n8", "serial", []string{"console=ttyS0,115200n8"}},
}

// Render renders the menus of sys for opts. It reads nothing: the text depends only on its
// arguments.
func Render(sys *System, opts Options) (*Menus, error) {
	r, err := newRenderer(sys, opts)
	if err != nil {
		return nil, err
	}
	m := &Menus{VolumeID: r.volumeID, SystemdInitrd: r.systemdInitrd}
	if !opts.NoBIOS {
		m.Isolinux = []byte(r.isolinuxCfg())
	}
	if !opts.NoUEFI {
		m.Grub = []byte(r.grubCfg())
		m.GrubEmbedded = []byte(r.grubEmbedded())
		if !r.systemdInitrd {
			m.Loopback = []byte("source " + GrubConfigPath)
		}
	}
	return m, nil
}

// renderer holds what the templates need, checked.
type renderer struct {
	sys           *System
	opts          Options
	volumeID      string
	systemdInitrd bool
	syslinuxWait  int // TIMEOUT, in tenths of a second
	grubWait      int // set timeout=, in seconds
	defaultIndex  int // the default entry's position among the main entry and specialisations
	appendLabel   string
}

func newRenderer(sys *System, opts Options) (*renderer, error) {
	r := &renderer{sys: sys, opts: opts, appendLabel: opts.appendToMenuLabel()}
	var err error
	if r.syslinuxWait, r.grubWait, err = opts.timeout(); err != nil {
		return nil, err
	}
	if r.volumeID, r.systemdInitrd, err = volumeID(sys, opts.VolumeID); err != nil {
		return nil, err
	}
	if opts.NoBIOS && opts.NoUEFI {
		return nil, fmt.Errorf("boot: neither BIOS nor UEFI boot")
	}
	if opts.DefaultEntry != "" {
		r.defaultIndex = -1
		for i, s := range sys.Specialisations {
			if s.Name == opts.DefaultEntry {
				r.defaultIndex = i + 1
			}
		}
		if r.defaultIndex < 0 {
			return nil, fmt.Errorf("boot: default entry %q: %s has no such specialisation", opts.DefaultEntry, sys.Toplevel)
		}
	}
	for _, s := range append([]*System{sys}, sys.Specialisations...) {
		if err := checkText(r.menuLabel(s)); err != nil {
			return nil, fmt.Errorf("boot: menu label: %w", err)
		}
	}
	return r, nil
}

// volumeID finds the volume id: from root=LABEL= in the kernel parameters of every
// configuration, which must agree with each other and with the option; from the option where
// there is none (a systemd initrd, which has no root=).
func volumeID(sys *System, option string) (id string, systemdInitrd bool, err error) {
	_, hasRoot := sys.rootLabel()
	var from *System
	for _, s := range append([]*System{sys}, sys.Specialisations...) {
		label, _ := s.rootLabel()
		switch {
		case label == "":
		case from == nil:
			id, from = label, s
		case label != id:
			return "", false, fmt.Errorf("boot: all specialisations must use the same volume id: %s has root=LABEL=%s, %s has root=LABEL=%s",
				from.Toplevel, id, s.Toplevel, label)
		}
	}
	switch {
	case option != "" && from != nil && option != id:
		return "", false, fmt.Errorf("boot: volume id %q does not match root=LABEL=%s in the kernel parameters of %s", option, id, from.Toplevel)
	case option != "":
		id = option
	case from == nil:
		return "", false, fmt.Errorf("boot: no root=LABEL= in the kernel parameters of %s (a systemd initrd?): the volume id must be given", sys.Toplevel)
	}
	if err := checkVolumeID(id); err != nil {
		return "", false, fmt.Errorf("boot: %w", err)
	}
	return id, !hasRoot, nil
}

// menuLabel is an entry's title: prepend, distro name, label, append, configuration name.
func (r *renderer) menuLabel(s *System) string {
	l := r.opts.PrependToMenuLabel + s.DistroName + " " + s.Label + r.appendLabel
	if name := r.opts.configurationName(s); name != "" {
		l += " " + name
	}
	return l
}

// params is iso-image.nix's kernel command line: "init=<toplevel>/init <params> <extra>", with
// its spaces even where a list is empty.
func params(s *System, extra []string) string {
	return "init=" + s.Init + " " + strings.Join(s.KernelParams, " ") + " " + strings.Join(extra, " ")
}

// Kernel and initrd paths as the menus name them: "/boot/" + store path, hence "/boot//nix/...".
func menuKernel(s *System) string { return "/boot/" + s.Kernel }
func menuInitrd(s *System) string { return "/boot/" + s.Initrd }

// isolinuxEntry is menuBuilderIsolinux: an entry, then the specialisations' entries labelled
// <label>-<name>, with the same extra parameters.
func (r *renderer) isolinuxEntry(s *System, label string, extra []string) string {
	var specs []string
	for _, spec := range s.Specialisations {
		specs = append(specs, r.isolinuxEntry(spec, label+"-"+spec.Name, extra))
	}
	return "LABEL " + label + "\n" +
		"MENU LABEL " + r.menuLabel(s) + "\n" +
		"LINUX " + menuKernel(s) + "\n" +
		"APPEND " + params(s, extra) + "\n" +
		"INITRD " + menuInitrd(s) + "\n" +
		"\n\n" + strings.Join(specs, "\n\n") + "\n"
}

// isolinuxTheme is isoImage.syslinuxTheme's default.
func isolinuxTheme(distro string) string {
	return "MENU TITLE " + distro + `
MENU RESOLUTION 800 600
MENU CLEAR
MENU ROWS 6
MENU CMDLINEROW -4
MENU TIMEOUTROW -3
MENU TABMSGROW  -2
MENU HELPMSGROW -1
MENU HELPMSGENDROW -1
MENU MARGIN 0

#                                FG:AARRGGBB  BG:AARRGGBB   shadow
MENU COLOR BORDER       30;44      #00000000    #00000000   none
MENU COLOR SCREEN       37;40      #FF000000    #00E2E8FF   none
MENU COLOR TABMSG       31;40      #80000000    #00000000   none
MENU COLOR TIMEOUT      1;37;40    #FF000000    #00000000   none
MENU COLOR TIMEOUT_MSG  37;40      #FF000000    #00000000   none
MENU COLOR CMDMARK      1;36;40    #FF000000    #00000000   none
MENU COLOR CMDLINE      37;40      #FF000000    #00000000   none
MENU COLOR TITLE        1;36;44    #00000000    #00000000   none
MENU COLOR UNSEL        37;44      #FF000000    #00000000   none
MENU COLOR SEL          7;37;40    #FFFFFFFF    #FF5277C3   std
`
}

// isolinuxCfg is iso-image.nix's isolinuxCfg (without its memtest86+ entry).
func (r *renderer) isolinuxCfg() string {
	def := "boot"
	if r.defaultIndex > 0 {
		def += "-" + r.sys.Specialisations[r.defaultIndex-1].Name
	}
	var subs []string
	for _, o := range options {
		subs = append(subs, "MENU BEGIN "+o.title+"\n"+r.isolinuxEntry(r.sys, "boot-"+o.class, o.params)+"\nMENU END\n")
	}
	return "SERIAL 0 115200\n" +
		"TIMEOUT " + strconv.Itoa(r.syslinuxWait) + "\n" +
		"UI vesamenu.c32\n" +
		"MENU BACKGROUND " + SplashPath + "\n" +
		"\n" + isolinuxTheme(r.sys.DistroName) + "\n\n" +
		"DEFAULT " + def + "\n\n" +
		r.isolinuxEntry(r.sys, "boot", nil) + "\n\n" +
		"MENU BEGIN Options\n\n" +
		strings.Join(subs, "\n") + "\n\n" +
		"MENU END\n"
}

// grubWord quotes a word for a GRUB script where it needs it. nixpkgs writes titles in single
// quotes and parameters bare; a parameter with a character GRUB's parser gives meaning to is
// single-quoted here, and a quote in a title escaped, so odd text stays one word.
func grubWord(s string) string {
	safe := func(r rune) bool {
		return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("_.,:=+/@%-", r)
	}
	if s != "" && !strings.ContainsFunc(s, func(r rune) bool { return !safe(r) }) {
		return s
	}
	return grubQuote(s)
}

func grubQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func grubWords(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = grubWord(w)
	}
	return strings.Join(q, " ")
}

// serial is what GRUB's terminal_output commands add when the menu also goes to the serial
// line. Input stays on the firmware's console, as in nixpkgs: firmware that redirects its
// console to the serial port (OVMF, server consoles) already passes serial input through it,
// and a second reader of the same port (terminal_input serial) splits escape sequences between
// the two, so that an arrow key arrives as Escape and leaves the menu (seen with OVMF).
func (r *renderer) serial() string {
	if r.opts.NoSerial {
		return ""
	}
	return " serial"
}

// grubEntry is menuBuilderGrub2.
func (r *renderer) grubEntry(s *System, extra []string) string {
	return "menuentry " + grubQuote(r.menuLabel(s)) + " --class installer {\n" +
		"  # Fallback to UEFI console for boot, efifb sometimes has difficulties.\n" +
		"  terminal_output console" + r.serial() + "\n" +
		"\n" +
		"  linux " + grubWord(menuKernel(s)) + " ${isoboot} " +
		grubWord("init="+s.Init) + " " + grubWords(s.KernelParams) + " " + grubWords(extra) + "\n" +
		"  initrd " + grubWord(menuInitrd(s)) + "\n" +
		"}\n"
}

// grubEntries is buildMenuGrub2: the entry, then each specialisation's.
func (r *renderer) grubEntries(s *System, extra []string) string {
	var specs []string
	for _, spec := range s.Specialisations {
		specs = append(specs, r.grubEntries(spec, extra))
	}
	return r.grubEntry(s, extra) + "\n" + strings.Join(specs, "\n") + "\n"
}

// grubMenuCfg is repeated in every submenu, as nixpkgs does (or submenus lose their colours).
func (r *renderer) grubMenuCfg() string {
	return "set textmode=" + strconv.FormatBool(r.opts.ForceTextMode) + `

#
# Menu configuration
#

# Search using a "marker file"
search --set=root --file ` + MarkerPath + `

insmod gfxterm
insmod png
set gfxpayload=keep
set gfxmode=1920x1200,1920x1080,1366x768,1280x800,1280x720,1200x1920,1024x768,800x1280,800x600,auto

if [ "$textmode" == "false" ]; then
  terminal_output gfxterm` + r.serial() + `
  terminal_input  console
else
  terminal_output console` + r.serial() + `
  terminal_input  console
  # Sets colors for console term.
  set menu_color_normal=cyan/blue
  set menu_color_highlight=white/blue
fi

` + r.grubBackground() + `

hiddenentry 'Text mode' --hotkey 't' {
  loadfont ($root)` + GrubFontPath + `
  set textmode=true
  terminal_output console` + r.serial() + `
}


`
}

// grubBackground sets the menu's background image and colours. nixpkgs always ships
// efi-background.png and tries it; without Options.EFISplashImage there is none to try, and
// GRUB would print an error for it on every boot, so only the fallback colours are set.
func (r *renderer) grubBackground() string {
	if r.opts.EFISplashImage == "" {
		return `# No background image: proper colors.
set menu_color_normal=cyan/blue
set menu_color_highlight=white/blue
`
	}
	return `if background_image ($root)` + EFISplashPath + `; then
  # Black background means transparent background when there
  # is a background image set... This seems undocumented :(
  set color_normal=black/black
  set color_highlight=white/blue
else
  # Falls back again to proper colors.
  set menu_color_normal=cyan/blue
  set menu_color_highlight=white/blue
fi
`
}

// grubCfg is the grub.cfg that iso-image.nix's efiDir writes (without rEFInd, memtest86+ and a
// theme, which are not in a toplevel's closure).
func (r *renderer) grubCfg() string {
	head := "\nset timeout=" + strconv.Itoa(r.grubWait) + "\n"
	if r.defaultIndex > 0 {
		head += "set default=" + strconv.Itoa(r.defaultIndex) + "\n"
	}
	if !r.opts.NoSerial {
		head += grubSerial + "\n"
	}
	menu := r.grubMenuCfg()
	var subs []string
	for _, o := range options {
		subs = append(subs, "submenu \""+o.title+"\" --class "+o.class+" {\n  "+menu+"\n  "+r.grubEntries(r.sys, o.params)+"\n}\n")
	}
	return head + `
clear
# This message will only be viewable on the default (UEFI) console.
echo ""
echo "Loading graphical boot menu..."
echo ""
echo "Press 't' to use the text boot menu on this console..."
echo ""

` + menu + `

# If the parameter iso_path is set, append the findiso parameter to the kernel
# line. We need this to allow the nixos iso to be booted from grub directly.
if [ ${iso_path} ] ; then
  set isoboot="findiso=${iso_path}"
fi

#
# Menu entries
#

` + r.grubEntries(r.sys, nil) + `
submenu "Options" --class submenu --class hidpi {
  ` + menu + `

  ` + strings.Join(subs, "\n") + `
}


menuentry 'Firmware Setup' --class settings {
  fwsetup
  clear
  echo ""
  echo "If you see this message, your EFI system doesn't support this feature."
  echo ""
}
menuentry 'Shutdown' --class shutdown {
  halt
}
`
}

// grubEmbedded is the early configuration built into BOOTX64.EFI. GRUB starts on the EFI
// system partition; the menu, kernels and fonts are on the ISO volume, which it finds by the
// marker file, as grub.cfg's own search does.
func (r *renderer) grubEmbedded() string {
	var b strings.Builder
	if !r.opts.NoSerial {
		b.WriteString(grubSerial + "\nterminal_output console serial\n")
	}
	b.WriteString("search --set=root --file " + MarkerPath + "\n")
	b.WriteString("set prefix=($root)" + GrubDir + "\n")
	b.WriteString("configfile ($root)" + GrubConfigPath + "\n")
	return b.String()
}
