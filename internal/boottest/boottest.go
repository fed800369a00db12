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

	"github.com/gonixiso/gonixiso/internal/qemu"
)

// Mode is one way of booting an image (package qemu describes the machines).
type Mode = qemu.Mode

// The boot modes.
const (
	CDBIOS  = qemu.CDBIOS
	CDUEFI  = qemu.CDUEFI
	USBBIOS = qemu.USBBIOS
	USBUEFI = qemu.USBUEFI
)

// Modes lists every mode, in the order the tests run them.
var Modes = qemu.Modes

// ParseMode returns the Mode named s.
func ParseMode(s string) (Mode, error) { return qemu.ParseMode(s) }

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
	args, err := qemu.Machine{ISO: opts.ISO, Mode: opts.Mode, MemoryMiB: opts.MemoryMiB}.Args(tmp)
	if err != nil {
		return Result{}, fmt.Errorf("boottest: %w (run scripts/setup)", err)
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
