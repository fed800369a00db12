// Package boottest boots an ISO image in QEMU the four ways a NixOS live ISO must boot (from a CD
// and from a USB stick, with BIOS and with UEFI firmware) and reports what the booted system said
// on its serial console.
//
// It is the ground truth of gonixiso's tests: an image passes only when stage 2 of the test system
// (testdata/system) prints the marker line of the expected configuration, which it does only after
// it has checked every file of its closure against the sha256 recorded when Nix built it.
// A stage-1 or stage-2 failure line, a wrong marker, a firmware that finds nothing to boot, a
// kernel panic or a timeout all fail.
//
// QEMU runs with TCG (these machines have no KVM). The number of QEMUs running at once on the
// machine, across test processes, is limited to the number of cores.
package boottest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Mode is one way of booting an image.
type Mode string

// The boot modes. The CD modes attach the image as a CD-ROM (IDE on the i440FX machine for
// SeaBIOS, AHCI on q35 for OVMF), which boots through El Torito. The USB modes attach the same
// file as a raw USB disk on an xHCI controller, which must boot through the isohybrid MBR (BIOS)
// or the EFI system partition that the GPT and the MBR point at (UEFI). OVMF would also find
// El Torito on a disk and boot through it, hiding a broken GPT, so the USB modes show the
// firmware the image with the identifier and catalog pointer of its El Torito boot record
// (sector 17) zeroed, in a copy-on-write overlay: what boots from USB has booted through the
// partition tables. (The record keeps its type and "CD001": GRUB's and Linux's ISO 9660 readers
// stop at a descriptor without them.)
const (
	CDBIOS  Mode = "cd-bios"
	CDUEFI  Mode = "cd-uefi"
	USBBIOS Mode = "usb-bios"
	USBUEFI Mode = "usb-uefi"
)

// Modes lists every mode, in the order the tests run them.
var Modes = []Mode{CDBIOS, CDUEFI, USBBIOS, USBUEFI}

// ParseMode returns the Mode named s.
func ParseMode(s string) (Mode, error) {
	for _, m := range Modes {
		if string(m) == s {
			return m, nil
		}
	}
	return "", fmt.Errorf("unknown boot mode %q (want one of cd-bios, cd-uefi, usb-bios, usb-uefi)", s)
}

// UEFI reports whether the mode boots with OVMF.
func (m Mode) UEFI() bool { return m == CDUEFI || m == USBUEFI }

// USB reports whether the mode attaches the image as a USB disk.
func (m Mode) USB() bool { return m == USBBIOS || m == USBUEFI }

// Outcome says how a boot ended.
type Outcome int

const (
	// Pass: stage 2 printed the marker of the expected configuration.
	Pass Outcome = iota
	// Fail: a failure line (stage 1, stage 2, firmware, kernel panic) or a wrong marker.
	Fail
	// Timeout: nothing decisive before the time limit.
	Timeout
)

func (o Outcome) String() string {
	switch o {
	case Pass:
		return "pass"
	case Fail:
		return "fail"
	default:
		return "timeout"
	}
}

// Options describe one boot.
type Options struct {
	ISO  string // the image
	Mode Mode
	// Entry is the configuration to boot: "" or "main" for the default entry, or the name of a
	// specialisation, whose menu entry the harness selects with the arrow keys.
	Entry string
	// Timeout bounds the boot, from QEMU's start to the marker (default and maximum 120 s).
	Timeout time.Duration
	// Log, if set, receives everything the serial console printed.
	Log string
	// MemoryMiB is the guest's memory (default 1024).
	MemoryMiB int
}

// Result is what a boot showed.
type Result struct {
	Outcome  Outcome
	Reason   string        // the decisive line, or why it timed out
	Marker   string        // the stage-2 marker line, if any
	Config   string        // the configuration the marker names
	Duration time.Duration // from QEMU's start to its end
	Tail     string        // the last lines of the serial console
}

// MaxTimeout is the longest a boot may take.
const MaxTimeout = 120 * time.Second

// The lines stage 1 and stage 2 of the test system print (testdata/system).
var (
	markerRE = regexp.MustCompile(`GONIXISO-STAGE2-OK config=(\S+)`)
	failRE   = regexp.MustCompile(`GONIXISO-STAGE[12]-FAIL[^\r\n]*` +
		`|Kernel panic[^\r\n]*` +
		`|No bootable device[^\r\n]*` +
		`|Boot failed: [^\r\n]*` +
		`|UEFI Interactive Shell[^\r\n]*` +
		`|Shell> ` +
		`|error: (file|you need|no such|unknown|out of)[^\r\n]*` +
		`|Could not find kernel image[^\r\n]*` +
		`|Failed to load ldlinux\.c32[^\r\n]*`)
)

// Menu prompts after which the harness may press keys: syslinux's countdown or boot prompt, and
// GRUB's menu on a serial terminal, or the banner of nixpkgs' grub.cfg whose menu is graphical only.
var (
	menuNowRE   = regexp.MustCompile(`Automatic boot in|boot: |executed automatically in|Use the .* keys to select`)
	menuLaterRE = regexp.MustCompile(`Press 't' to use the text boot menu|Welcome to GRUB!`)
)

// Boot boots opts.ISO once and reports the outcome. An error means the harness itself could not
// run (QEMU or firmware missing, unreadable image); a boot that fails is a Result, not an error.
func Boot(ctx context.Context, opts Options) (Result, error) {
	if opts.Timeout <= 0 || opts.Timeout > MaxTimeout {
		opts.Timeout = MaxTimeout
	}
	if opts.MemoryMiB == 0 {
		opts.MemoryMiB = 1024
	}
	if _, err := os.Stat(opts.ISO); err != nil {
		return Result{}, fmt.Errorf("boottest: %w", err)
	}
	want := opts.Entry
	if want == "" {
		want = "main"
	}
	keys := "\r"
	if want != "main" {
		idx, err := EntryIndex(ctx, opts.ISO, opts.Mode, want)
		if err != nil {
			return Result{}, err
		}
		keys = strings.Repeat("\x1b[B", idx) + "\r"
	}

	release, err := acquireSlot(ctx)
	if err != nil {
		return Result{}, err
	}
	defer release()

	tmp, err := os.MkdirTemp("", "gonixiso-boottest-")
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(tmp)
	args, err := qemuArgs(opts, tmp)
	if err != nil {
		return Result{}, err
	}

	bctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	cmd := exec.CommandContext(bctx, "qemu-system-x86_64", args...)
	cmd.WaitDelay = 5 * time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return Result{}, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return Result{}, err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	var logw io.Writer = io.Discard
	if opts.Log != "" {
		f, err := os.Create(opts.Log)
		if err != nil {
			return Result{}, err
		}
		defer f.Close()
		logw = f
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return Result{}, fmt.Errorf("boottest: start qemu: %w", err)
	}

	con := &console{keys: keys, stdin: stdin}
	scanDone := make(chan struct{})
	go func() {
		defer close(scanDone)
		con.scan(io.TeeReader(stdout, logw), cancel)
	}()
	waitErr := cmd.Wait()
	<-scanDone
	con.stopTimer()
	res := con.result()
	res.Duration = time.Since(start)
	if res.Outcome == Timeout {
		switch {
		case bctx.Err() == context.DeadlineExceeded:
			res.Reason = fmt.Sprintf("no marker within %s", opts.Timeout)
		case ctx.Err() != nil:
			return res, ctx.Err()
		case waitErr != nil && !isKilled(waitErr):
			return res, fmt.Errorf("boottest: qemu: %v: %s", waitErr, strings.TrimSpace(stderr.String()))
		default:
			res.Outcome = Fail
			res.Reason = "the machine powered off without a marker"
		}
	}
	if res.Outcome == Pass && res.Config != want {
		res.Outcome = Fail
		res.Reason = fmt.Sprintf("booted configuration %q, want %q: %s", res.Config, want, res.Marker)
	}
	return res, nil
}

func isKilled(err error) bool {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return true
		}
	}
	return false
}

// console reads the serial console, presses the keys once a menu is up, and decides the outcome.
type console struct {
	keys  string
	stdin io.WriteCloser

	mu      sync.Mutex
	sent    bool
	timer   *time.Timer
	outcome Outcome
	reason  string
	marker  string
	config  string
	tail    []string
}

func (c *console) press() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sent {
		return
	}
	c.sent = true
	// Keys one at a time: firmware serial drivers have small FIFOs.
	go func(keys string) {
		for _, k := range splitKeys(keys) {
			if _, err := io.WriteString(c.stdin, k); err != nil {
				return
			}
			time.Sleep(300 * time.Millisecond)
		}
	}(c.keys)
}

func (c *console) stopTimer() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.timer != nil {
		c.timer.Stop()
	}
}

func splitKeys(s string) []string {
	var out []string
	for len(s) > 0 {
		if strings.HasPrefix(s, "\x1b[") && len(s) >= 3 {
			out = append(out, s[:3])
			s = s[3:]
			continue
		}
		out = append(out, s[:1])
		s = s[1:]
	}
	return out
}

func (c *console) scan(r io.Reader, stop func()) {
	br := bufio.NewReaderSize(r, 64<<10)
	var line []byte
	var window []byte // recent output across line breaks, for prompts drawn with escapes
	decided := false
	for {
		b, err := br.ReadByte()
		if err != nil {
			return
		}
		if b == '\n' || b == '\r' {
			if len(line) > 0 {
				c.addTail(string(line))
			}
			line = line[:0]
		} else {
			line = append(line, b)
		}
		window = append(window, b)
		if len(window) > 4096 {
			window = append(window[:0], window[len(window)-2048:]...)
		}
		if decided {
			continue
		}
		if b != '\n' && b != '\r' && b != ' ' && b != 'n' && b != '.' && b != '!' {
			continue
		}
		w := string(window)
		if m := markerRE.FindStringSubmatch(w); m != nil && (b == '\n' || b == '\r') {
			c.decide(Pass, m[0], m[0], m[1])
			decided = true
			stop()
			continue
		}
		if m := failRE.FindString(w); m != "" && (b == '\n' || b == '\r' || strings.HasSuffix(m, "> ")) {
			c.decide(Fail, m, "", "")
			decided = true
			stop()
			continue
		}
		if menuNowRE.MatchString(w) {
			c.press()
		} else if menuLaterRE.MatchString(w) {
			c.mu.Lock()
			if c.timer == nil && !c.sent {
				// nixpkgs' grub.cfg draws its menu on the graphical terminal only; its
				// input still reads the serial line. Give the menu time to come up.
				c.timer = time.AfterFunc(4*time.Second, c.press)
			}
			c.mu.Unlock()
		}
	}
}

func (c *console) decide(o Outcome, reason, marker, config string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.outcome, c.reason, c.marker, c.config = o, strings.TrimSpace(reason), marker, config
}

func (c *console) addTail(l string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tail = append(c.tail, stripANSI(l))
	if len(c.tail) > 40 {
		c.tail = c.tail[len(c.tail)-40:]
	}
}

func (c *console) result() Result {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := Result{Outcome: Timeout, Reason: c.reason, Marker: c.marker, Config: c.config}
	if c.reason != "" {
		r.Outcome = c.outcome
	}
	r.Tail = strings.Join(c.tail, "\n")
	return r
}

var ansiRE = regexp.MustCompile(`\x1b(\[[0-9;?=]*[A-Za-z]|[()][0-9A-Za-z]|[%][@G]|[a-zA-Z])|[\x00-\x08\x0e-\x1f]`)

func stripANSI(s string) string { return ansiRE.ReplaceAllString(s, "") }

// Firmware locations on Debian 12 (package ovmf).
var (
	ovmfCode = "/usr/share/OVMF/OVMF_CODE_4M.fd"
	ovmfVars = "/usr/share/OVMF/OVMF_VARS_4M.fd"
)

func qemuArgs(opts Options, tmp string) ([]string, error) {
	iso, err := filepath.Abs(opts.ISO)
	if err != nil {
		return nil, err
	}
	if strings.ContainsAny(iso, ",") {
		// QEMU's option syntax cannot quote a comma in a file name: go through a link.
		link := filepath.Join(tmp, "image.iso")
		if err := os.Symlink(iso, link); err != nil {
			return nil, err
		}
		iso = link
	}
	args := []string{
		"-m", fmt.Sprint(opts.MemoryMiB),
		"-smp", "1",
		"-display", "none",
		"-vga", "std",
		"-monitor", "none",
		"-serial", "stdio",
		"-nic", "none",
		"-no-reboot",
		// SeaBIOS with nothing to boot reboots after a second, which -no-reboot turns into
		// an exit: a fast, clear failure instead of a timeout.
		"-boot", "reboot-timeout=1000",
	}
	if opts.Mode.UEFI() {
		for _, f := range []string{ovmfCode, ovmfVars} {
			if _, err := os.Stat(f); err != nil {
				return nil, fmt.Errorf("boottest: OVMF firmware missing (%w); run scripts/setup", err)
			}
		}
		vars := filepath.Join(tmp, "OVMF_VARS.fd")
		data, err := os.ReadFile(ovmfVars)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(vars, data, 0o644); err != nil {
			return nil, err
		}
		args = append(args, "-machine", "q35",
			"-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+ovmfCode,
			"-drive", "if=pflash,format=raw,unit=1,file="+vars)
	} else {
		args = append(args, "-machine", "pc")
	}
	switch opts.Mode {
	case CDBIOS:
		args = append(args,
			"-drive", "file="+iso+",format=raw,media=cdrom,if=none,id=cd,readonly=on",
			"-device", "ide-cd,drive=cd,bus=ide.1,bootindex=0")
	case CDUEFI:
		args = append(args,
			"-drive", "file="+iso+",format=raw,media=cdrom,if=none,id=cd,readonly=on",
			"-device", "ide-cd,drive=cd,bus=ide.0,bootindex=0")
	case USBBIOS, USBUEFI:
		stick, err := usbOverlay(iso, tmp)
		if err != nil {
			return nil, err
		}
		args = append(args,
			"-device", "qemu-xhci,id=xhci",
			"-drive", "file="+stick+",format=qcow2,if=none,id=stick",
			"-device", "usb-storage,bus=xhci.0,drive=stick,bootindex=0")
	default:
		return nil, fmt.Errorf("boottest: unknown mode %q", opts.Mode)
	}
	return args, nil
}

// The El Torito boot record volume descriptor is sector 17. Bytes 7-38 hold its boot system
// identifier ("EL TORITO SPECIFICATION"), 39-70 the boot identifier, 71-74 the catalog's LBA.
const (
	elToritoRecord  = 17*2048 + 7
	elToritoIDBytes = 68
)

// usbOverlay makes a qcow2 overlay of iso in tmp with the El Torito boot record's identifiers
// zeroed, so that firmware booting it as a disk can only use the MBR and GPT. The image itself is
// not touched.
func usbOverlay(iso, tmp string) (string, error) {
	overlay := filepath.Join(tmp, "usb-stick.qcow2")
	for _, c := range [][]string{
		{"qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", iso, overlay},
		{"qemu-io", "-f", "qcow2", "-c", fmt.Sprintf("write -q -P 0 %d %d", elToritoRecord, elToritoIDBytes), overlay},
	} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			return "", fmt.Errorf("boottest: %s: %v: %s (qemu-utils installed? run scripts/setup)", strings.Join(c, " "), err, out)
		}
	}
	return overlay, nil
}

// acquireSlot waits for one of nproc machine-wide QEMU slots (flock on files in the temp dir), so
// that parallel test processes do not starve each other's emulated CPUs into timeouts.
func acquireSlot(ctx context.Context) (func(), error) {
	n := numCPU()
	dir := filepath.Join(os.TempDir(), "gonixiso-qemu-slots")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return nil, err
	}
	for {
		for i := 0; i < n; i++ {
			f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("slot-%d", i)), os.O_CREATE|os.O_RDWR, 0o666)
			if err != nil {
				return nil, err
			}
			if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err == nil {
				return func() { f.Close() }, nil
			}
			f.Close()
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}
