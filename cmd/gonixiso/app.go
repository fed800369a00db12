package main

import (
	"errors"
	"fmt"
	"io"
	"runtime/debug"

	"github.com/urfave/cli/v2"
)

// version is set at link time (-ldflags "-X main.version=v1.2.3"); otherwise it comes from the
// module's build information.
var version = ""

// Exit statuses, one rule for every command: 0 for success (and identical images for diff), 1
// for images that differ (diff only), 2 for any error (a usage error, unreadable or hostile
// input, a failed build), 130 for an interrupted run.
const (
	exitDifferent   = 1
	exitFailure     = 2
	exitInterrupted = 130
)

// exitError carries an exit status other than exitFailure.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func exitCode(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return exitFailure
}

// Global flags that every command shares.
var (
	verboseFlag = &cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "print what each stage does"}
	quietFlag   = &cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print errors only"}
)

func newApp(stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:  "gonixiso",
		Usage: "assemble bootable NixOS ISO images natively",
		Description: "gonixiso turns a built NixOS toplevel (config.system.build.toplevel) into a hybrid ISO\n" +
			"that boots from CD and USB stick, in BIOS and UEFI mode: the work nixpkgs' iso-image.nix\n" +
			"does with mksquashfs and xorriso, done in parallel, reproducibly and incrementally.",
		Version:              buildVersion(),
		Writer:               stdout,
		ErrWriter:            stderr,
		HideVersion:          true,
		EnableBashCompletion: true,
		Flags:                []cli.Flag{verboseFlag, quietFlag},
		Before:               checkVerbosity,
		Commands: []*cli.Command{
			assembleCommand(),
			buildCommand(),
			inspectCommand(),
			diffCommand(),
			manifestCommand(),
			cacheCommand(),
			runCommand(),
			derivationCommand(),
			{
				Name:  "version",
				Usage: "print gonixiso's version",
				Action: func(c *cli.Context) error {
					_, err := fmt.Fprintf(c.App.Writer, "gonixiso %s\n", c.App.Version)
					return err
				},
			},
		},
		// Unknown commands are errors with exit status 2, like flag errors.
		CommandNotFound: func(c *cli.Context, name string) {
			fmt.Fprintf(c.App.ErrWriter, "gonixiso: unknown command %q (see gonixiso --help)\n", name)
			cli.OsExiter(2)
		},
		OnUsageError: func(c *cli.Context, err error, _ bool) error {
			return &exitError{exitFailure, err}
		},
	}
	// Every command checks the shared flags again (they may follow its name), and its flag
	// errors are usage errors too.
	var fix func([]*cli.Command)
	fix = func(cmds []*cli.Command) {
		for _, cmd := range cmds {
			if cmd.Before == nil {
				cmd.Before = checkVerbosity
			}
			if cmd.OnUsageError == nil {
				cmd.OnUsageError = usageError
			}
			fix(cmd.Subcommands)
		}
	}
	fix(app.Commands)
	return app
}

// usageError makes a command's flag errors short usage errors (exit status 2), without the
// whole help text.
func usageError(c *cli.Context, err error, _ bool) error {
	return &exitError{exitFailure, fmt.Errorf("%s: %w (see gonixiso %s --help)", c.Command.Name, err, c.Command.Name)}
}

// buildVersion reports the version set at link time, or the module version and VCS revision Go
// recorded in the binary.
func buildVersion() string {
	if version != "" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	v := bi.Main.Version
	if v == "" || v == "(devel)" {
		v = "devel"
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if rev != "" && v == "devel" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		v += "-" + rev + dirty
	}
	return v
}

// checkVerbosity refuses --verbose with --quiet, wherever on the command line each was given.
func checkVerbosity(c *cli.Context) error {
	if globalBool(c, "verbose") && globalBool(c, "quiet") {
		return &exitError{exitFailure, errors.New("--verbose and --quiet exclude each other")}
	}
	return nil
}

// globalBool reports whether a shared flag (--verbose, --quiet) is on, whether it was given
// before the command ("gonixiso --verbose assemble") or after it ("gonixiso assemble --verbose").
// The command's own flag set defines the flag too, so c.Bool alone sees only the command's copy.
func globalBool(c *cli.Context, name string) bool {
	for _, ctx := range c.Lineage() {
		if ctx.IsSet(name) && ctx.Bool(name) {
			return true
		}
	}
	return false
}
