package boot

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Menus are a system's boot menus and configuration files, as text. They are what iso-image.nix
// renders from its templates, character for character in nixpkgs' configuration (NoSerial, a
// SplashImage and an EFISplashImage): the whitespace of Nix's indented strings, the
// "/boot//nix/store/..." paths, the literal ${isoboot}, the trailing space after parameters.
// Where nixpkgs' menus would name a file that is not on the ISO, boot's do not: no MENU
// BACKGROUND without a SplashImage, no background_image without an EFISplashImage, and with the
// main configuration hidden, DEFAULT names the first entry shown (nixpkgs' names the hidden
// one's label, which vesamenu cannot find, so that it boots its first entry too).
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
// arguments (a GRUB theme's fonts come from Options.GrubTheme, which ReadGrubTheme read).
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
	syslinuxWait  int     // TIMEOUT, in tenths of a second
	grubWait      int     // set timeout=, in seconds
	defaultSys    *System // the configuration the default entry boots
	defaultIndex  int     // its entry's position among the top-level entries
}

func newRenderer(sys *System, opts Options) (*renderer, error) {
	r := &renderer{sys: sys, opts: opts}
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
	configs := sys.configs()
	for _, name := range slices.Sorted(maps.Keys(opts.Entries)) {
		if !slices.ContainsFunc(configs, func(s *System) bool { return s.Name == name }) {
			return nil, fmt.Errorf("boot: options of entry %q: %s has no such specialisation", name, sys.Toplevel)
		}
	}
	shown := slices.DeleteFunc(slices.Clone(configs), func(s *System) bool { return !opts.shown(s) })
	if len(shown) == 0 {
		return nil, fmt.Errorf("boot: every configuration of %s is hidden (isoImage.showConfiguration = false): the menus would have no entry", sys.Toplevel)
	}
	// The default entry: the one named, else the main configuration's, else (the main
	// configuration hidden) the first entry, which nixpkgs' menus boot too: GRUB's default is
	// its first entry, and vesamenu falls back to its first when DEFAULT names no entry.
	r.defaultSys = shown[0]
	if opts.DefaultEntry != "" {
		i := slices.IndexFunc(sys.Specialisations, func(s *System) bool { return s.Name == opts.DefaultEntry })
		if i < 0 {
			return nil, fmt.Errorf("boot: default entry %q: %s has no such specialisation", opts.DefaultEntry, sys.Toplevel)
		}
		if r.defaultSys = sys.Specialisations[i]; !opts.shown(r.defaultSys) {
			return nil, fmt.Errorf("boot: default entry %q is hidden (isoImage.showConfiguration = false)", opts.DefaultEntry)
		}
	}
	r.defaultIndex = slices.Index(shown, r.defaultSys)
	for _, s := range shown {
		if err := checkText(r.menuLabel(s)); err != nil {
			return nil, fmt.Errorf("boot: menu label: %w", err)
		}
	}
	if opts.SyslinuxTheme != nil && !opts.NoBIOS {
		if err := checkLines(*opts.SyslinuxTheme); err != nil {
			return nil, fmt.Errorf("boot: syslinux theme: %w", err)
		}
	}
	if opts.Memtest != "" {
		for _, p := range opts.MemtestParams {
			if err := checkParam(p); err != nil {
				return nil, fmt.Errorf("boot: memtest86+: %w", err)
			}
		}
	}
	if th := opts.GrubTheme; th != nil && !opts.NoUEFI {
		for _, f := range th.Fonts {
			if err := checkThemeName(f); err != nil {
				return nil, fmt.Errorf("boot: GRUB theme %s: %w", th.Dir, err)
			}
		}
	}
	return r, nil
}

// configs returns the main configuration, then its specialisations, in menu order.
func (s *System) configs() []*System { return append([]*System{s}, s.Specialisations...) }

// checkLines accepts text of several lines: no control characters but tabs and line ends.
func checkLines(s string) error {
	for _, r := range s {
		if (r < ' ' && r != '\t' && r != '\n' && r != '\r') || r == 0x7F {
			return fmt.Errorf("%q has a control character", s)
		}
	}
	return nil
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
	case from == nil && hasRoot:
		root, _ := sys.root()
		return "", false, fmt.Errorf("boot: %s %w: its kernel parameters have root=%s, and its (scripted) initrd finds a live ISO by root=LABEL=<volume id>; %s (to pack it anyway, give a volume id and allow a system that is not live)",
			sys.Toplevel, ErrNotLive, root, importHint)
	case from == nil:
		return "", false, fmt.Errorf("boot: no root=LABEL= in the kernel parameters of %s (a systemd initrd?): the volume id must be given", sys.Toplevel)
	}
	if err := checkVolumeID(id); err != nil {
		return "", false, fmt.Errorf("boot: %w", err)
	}
	return id, !hasRoot, nil
}

// menuLabel is an entry's title, iso-image.nix's for configuration s: its prepend, distro name,
// label, append and configuration name.
func (r *renderer) menuLabel(s *System) string {
	prepend, append, name := r.opts.label(s)
	l := prepend + s.DistroName + " " + s.Label + append
	if name != "" {
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

// isolinuxEntry is menuBuilderIsolinux: an entry unless the configuration is hidden, then the
// specialisations' entries labelled <label>-<name>, with the same extra parameters.
func (r *renderer) isolinuxEntry(s *System, label string, extra []string) string {
	var specs []string
	for _, spec := range s.Specialisations {
		specs = append(specs, r.isolinuxEntry(spec, label+"-"+spec.Name, extra))
	}
	var entry string
	if r.opts.shown(s) {
		entry = "LABEL " + label + "\n" +
			"MENU LABEL " + r.menuLabel(s) + "\n" +
			"LINUX " + menuKernel(s) + "\n" +
			"APPEND " + params(s, extra) + "\n" +
			"INITRD " + menuInitrd(s) + "\n"
	}
	return entry + "\n\n" + strings.Join(specs, "\n\n") + "\n"
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

// isolinuxCfg is iso-image.nix's isolinuxCfg. MENU BACKGROUND is there only with a
// SplashImage, which nixpkgs always has.
func (r *renderer) isolinuxCfg() string {
	def := "boot"
	if r.defaultSys.Name != "" {
		def += "-" + r.defaultSys.Name
	}
	var subs []string
	for _, o := range options {
		subs = append(subs, "MENU BEGIN "+o.title+"\n"+r.isolinuxEntry(r.sys, "boot-"+o.class, o.params)+"\nMENU END\n")
	}
	background := ""
	if r.opts.SplashImage != "" {
		background = "MENU BACKGROUND " + SplashPath + "\n"
	}
	theme := isolinuxTheme(r.sys.DistroName)
	if r.opts.SyslinuxTheme != nil {
		theme = *r.opts.SyslinuxTheme
	}
	cfg := "SERIAL 0 115200\n" +
		"TIMEOUT " + strconv.Itoa(r.syslinuxWait) + "\n" +
		"UI vesamenu.c32\n" +
		background +
		"\n" + theme + "\n\n" +
		"DEFAULT " + def + "\n\n" +
		r.isolinuxEntry(r.sys, "boot", nil) + "\n\n" +
		"MENU BEGIN Options\n\n" +
		strings.Join(subs, "\n") + "\n\n" +
		"MENU END\n"
	if r.opts.Memtest != "" {
		// isolinuxMemtest86Entry, joined with "\n".
		cfg += "\n" +
			"LABEL memtest\n" +
			"MENU LABEL Memtest86+\n" +
			"LINUX " + MemtestPath + "\n" +
			"APPEND " + strings.Join(r.opts.MemtestParams, " ") + "\n"
	}
	return cfg
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

// grubEntries is buildMenuGrub2: the entry unless the configuration is hidden, then each
// specialisation's.
func (r *renderer) grubEntries(s *System, extra []string) string {
	var specs []string
	for _, spec := range s.Specialisations {
		specs = append(specs, r.grubEntries(spec, extra))
	}
	var entry string
	if r.opts.shown(s) {
		entry = r.grubEntry(s, extra)
	}
	return entry + "\n" + strings.Join(specs, "\n") + "\n"
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

` + r.grubGUIMode() + `
`
}

// grubThemeFonts are the loadfont lines of the theme's fonts, as iso-image.nix's find prints
// them: one a line, the last without its line end (the shell's $(...) drops it).
func (r *renderer) grubThemeFonts() string {
	var lines []string
	for _, f := range r.opts.GrubTheme.Fonts {
		lines = append(lines, "loadfont ($root)"+grubWord(GrubThemeDir+"/"+f))
	}
	return strings.Join(lines, "\n")
}

// grubGUIMode is the hidden entry that goes back to the graphical menu, with a theme only.
func (r *renderer) grubGUIMode() string {
	if r.opts.GrubTheme == nil {
		return ""
	}
	return `hiddenentry 'GUI mode' --hotkey 'g' {
  ` + r.grubThemeFonts() + `
  set textmode=false
  terminal_output gfxterm` + r.serial() + `
}
`
}

// grubBackground sets the theme, or else the menu's background image and colours. nixpkgs
// always ships efi-background.png and tries it; without Options.EFISplashImage there is none to
// try, and GRUB would print an error for it on every boot, so only the fallback colours are set.
func (r *renderer) grubBackground() string {
	if r.opts.GrubTheme != nil {
		return `# Sets theme.
set theme=($root)` + GrubThemeDir + "/" + grubThemeFile + `
# Load theme fonts
` + r.grubThemeFonts() + `
`
	}
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

// grubCfg is the grub.cfg that iso-image.nix's efiDir writes (without rEFInd, which gonixiso
// does not make).
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


` + r.grubMemtest() + `menuentry 'Firmware Setup' --class settings {
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

// grubMemtest is the Memtest86+ entry, which current nixpkgs writes after rEFInd's.
func (r *renderer) grubMemtest() string {
	if r.opts.Memtest == "" {
		return ""
	}
	return `menuentry 'Memtest86+' --class debug {
  linux ($root)` + MemtestPath + " " + grubWords(r.opts.MemtestParams) + `
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
