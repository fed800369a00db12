// Package sandbox runs a program that a Nix store holds with nothing of the host's, as Nix's own
// sandbox runs builders: in new user, mount, PID, network, IPC and UTS namespaces, on a root file
// system that has the store (read-only, at the directory its paths are named by) and one work
// folder (read-write, the program's current directory, /work), a /tmp and /dev/null. gonixiso runs
// the programs a toplevel's closure brings (grub-mkimage) this way, often as root: a hostile
// toplevel's program can read no host file, reach no network and leave no process behind.
//
// The program runs as root of its user namespace, which the host sees as the caller; when the
// caller is root, as nobody, without capabilities. The sandbox needs user namespaces: root always has them, and
// most distributions give them to users (Debian: kernel.unprivileged_userns_clone).
//
// The child side is this package's init: a binary that imports it re-executes itself
// (/proc/self/exe) in the namespaces to set the root up, then executes the program.
package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// childEnv carries the child's Spec (JSON); its presence makes init the child.
const childEnv = "GONIXISO_SANDBOX_CHILD"

// failCode is the child's exit status when it cannot set the sandbox up (not the program's).
const failCode = 125

// A Spec says what to run, and what the program may see.
type Spec struct {
	// StoreDir is the store directory as store paths name it ("/nix/store"); StoreReal is where
	// it is on this machine (the same, or below a chroot store's root).
	StoreDir, StoreReal string
	// Work is a host folder: the program's current directory, /work inside, where it reads its
	// inputs and writes its outputs. It is made writable for the program.
	Work string
	// Prog is the program, a path in the store by name; Args its arguments (without argv[0]).
	Prog string
	Args []string
}

// ErrUnavailable is wrapped by Run's errors when the sandbox cannot be made on this machine.
var ErrUnavailable = errors.New("the sandbox cannot be made here")

// Run runs the program of spec in the sandbox, its standard output and error to stdout and
// stderr (either may be nil), and returns when it has ended; the context's end kills it and
// every process it started.
func Run(ctx context.Context, spec Spec, stdout, stderr io.Writer) error {
	if !path.IsAbs(spec.StoreDir) || !strings.HasPrefix(path.Clean(spec.Prog), path.Clean(spec.StoreDir)+"/") {
		return fmt.Errorf("sandbox: %s is not in the store %s", spec.Prog, spec.StoreDir)
	}
	root, err := os.MkdirTemp("", "gonixiso-sandbox-")
	if err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	defer os.RemoveAll(root)
	if err := os.Chmod(root, 0o755); err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	if err := os.Chmod(spec.Work, 0o777); err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	// The program's user: the caller, as root of the namespace; a root caller's program drops
	// to nobody once the root is set up (the namespace maps both).
	uids := []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}}
	gids := []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}}
	c := child{Spec: spec, Root: root}
	if os.Getuid() == 0 {
		uids = append(uids, syscall.SysProcIDMap{ContainerID: nobody, HostID: nobody, Size: 1})
		gids = append(gids, syscall.SysProcIDMap{ContainerID: nobody, HostID: nobody, Size: 1})
		c.Drop = true
	}
	msg, err := json.Marshal(c)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, self)
	cmd.Env = []string{childEnv + "=" + string(msg)}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	var childErr bytes.Buffer
	if stderr == nil {
		cmd.Stderr = &childErr
	} else {
		cmd.Stderr = io.MultiWriter(stderr, &childErr)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWNET |
			syscall.CLONE_NEWIPC | syscall.CLONE_NEWUTS,
		UidMappings:                uids,
		GidMappings:                gids,
		GidMappingsEnableSetgroups: c.Drop,
		Pdeathsig:                  syscall.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("sandbox: %w: %v (user namespaces: run as root, or allow them, e.g. sysctl kernel.unprivileged_userns_clone=1)", ErrUnavailable, err)
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == failCode && strings.Contains(childErr.String(), "sandbox: ") {
		return fmt.Errorf("%w: %s", ErrUnavailable, strings.TrimSpace(lastLine(childErr.String())))
	}
	return err
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// nobody is the user and group a root caller's program runs as.
const nobody = 65534

// child is what the parent tells the child.
type child struct {
	Spec
	Root string // an empty host folder, which becomes the root
	Drop bool   // become nobody before running the program
}

func init() {
	msg := os.Getenv(childEnv)
	if msg == "" {
		return
	}
	var c child
	if err := json.Unmarshal([]byte(msg), &c); err != nil {
		fail(err)
	}
	if err := c.setUp(); err != nil {
		fail(err)
	}
	argv := append([]string{c.Prog}, c.Args...)
	err := unix.Exec(c.Prog, argv, []string{"PATH=/no-path", "HOME=/homeless-shelter", "TMPDIR=/tmp"})
	fail(fmt.Errorf("exec %s: %w", c.Prog, err))
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "sandbox: %v\n", err)
	os.Exit(failCode)
}

// setUp makes the root file system and enters it: run as PID 1 of the new namespaces.
func (c *child) setUp() error {
	steps := []struct {
		what string
		do   func() error
	}{
		{"make mounts private", func() error { return unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, "") }},
		{"mount a tmpfs root", func() error {
			return unix.Mount("tmpfs", c.Root, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755,size=64m")
		}},
		{"bind the store", func() error { return c.bind(c.StoreReal, c.StoreDir, true) }},
		{"bind the work folder", func() error { return c.bind(c.Work, "/work", false) }},
		{"make /tmp", func() error { return os.Mkdir(filepath.Join(c.Root, "tmp"), 0o1777) }},
		{"bind /dev/null", func() error { return c.bindFile("/dev/null", "/dev/null") }},
		{"enter the root", c.pivot},
		{"become nobody", c.drop},
		{"set no_new_privs", func() error { return unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) }},
		{"enter /work", func() error { return os.Chdir("/work") }},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			return fmt.Errorf("%s: %w", s.what, err)
		}
	}
	return nil
}

// bind mounts the host folder src at dst inside the root, read-only if ro.
func (c *child) bind(src, dst string, ro bool) error {
	target := filepath.Join(c.Root, dst)
	if err := os.MkdirAll(target, 0o755); err != nil {
		return err
	}
	if err := unix.Mount(src, target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return err
	}
	flags := uintptr(unix.MS_BIND | unix.MS_REMOUNT | unix.MS_NOSUID | unix.MS_NODEV)
	if ro {
		flags |= unix.MS_RDONLY
	}
	return unix.Mount("", target, "", flags, "")
}

// bindFile mounts the host file src at dst inside the root.
func (c *child) bindFile(src, dst string) error {
	target := filepath.Join(c.Root, dst)
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(target, nil, 0o666); err != nil {
		return err
	}
	return unix.Mount(src, target, "", unix.MS_BIND, "")
}

// pivot makes the root the root, and lets go of the host's.
func (c *child) pivot() error {
	old := filepath.Join(c.Root, ".old")
	if err := os.Mkdir(old, 0o700); err != nil {
		return err
	}
	if err := unix.PivotRoot(c.Root, old); err != nil {
		return err
	}
	if err := os.Chdir("/"); err != nil {
		return err
	}
	if err := unix.Unmount("/.old", unix.MNT_DETACH); err != nil {
		return err
	}
	return os.Remove("/.old")
}

// drop makes a root caller's program nobody, without capabilities.
func (c *child) drop() error {
	if !c.Drop {
		return nil
	}
	if err := unix.Setgroups(nil); err != nil {
		return err
	}
	if err := unix.Setresgid(nobody, nobody, nobody); err != nil {
		return err
	}
	return unix.Setresuid(nobody, nobody, nobody)
}
