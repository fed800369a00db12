package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

func run(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var o, e bytes.Buffer
	err = newApp(&o, &e).Run(append([]string{"gonixiso"}, args...))
	return o.String(), e.String(), err
}

func TestHelp(t *testing.T) {
	out, _, err := run(t, "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"gonixiso", "version", "--verbose", "--quiet"} {
		if !strings.Contains(out, want) {
			t.Errorf("--help does not mention %q:\n%s", want, out)
		}
	}
}

func TestVersion(t *testing.T) {
	out, _, err := run(t, "version")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "gonixiso ") || len(strings.TrimSpace(out)) <= len("gonixiso ") {
		t.Errorf("version printed %q", out)
	}
}

func TestVerboseAndQuietExclude(t *testing.T) {
	for _, args := range [][]string{
		{"--verbose", "--quiet", "version"},
		{"--verbose", "assemble", "--quiet"},
		{"assemble", "-v", "-q"},
	} {
		_, _, err := run(t, args...)
		if err == nil || exitCode(err) != 2 {
			t.Errorf("%q: err %v (exit %d), want a usage error with exit 2", args, err, exitCode(err))
		}
	}
}

// TestSharedFlagPlacement: a shared flag counts before the command's name and after it, though
// the command's own flag set (which also defines it) saw only one of the two.
func TestSharedFlagPlacement(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{[]string{"--verbose", "cmd"}, true},
		{[]string{"cmd", "--verbose"}, true},
		{[]string{"-v", "cmd"}, true},
		{[]string{"cmd"}, false},
		{[]string{"--quiet", "cmd"}, false},
	} {
		var got bool
		app := &cli.App{
			Flags: []cli.Flag{verboseFlag, quietFlag},
			Commands: []*cli.Command{{
				Name:   "cmd",
				Flags:  []cli.Flag{verboseFlag, quietFlag},
				Action: func(c *cli.Context) error { got = globalBool(c, "verbose"); return nil },
			}},
		}
		if err := app.Run(append([]string{"gonixiso"}, tc.args...)); err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		if got != tc.want {
			t.Errorf("%q: verbose %v, want %v", tc.args, got, tc.want)
		}
	}
}

func TestBadFlag(t *testing.T) {
	for _, args := range [][]string{
		{"--no-such-flag"},
		{"assemble", "--no-such-flag"},
		{"cache", "info", "--no-such-flag"},
		{"cache", "gc", "--max-size"},
	} {
		_, _, err := run(t, args...)
		if err == nil || exitCode(err) != 2 {
			t.Errorf("%q: err %v (exit %d), want exit 2", args, err, exitCode(err))
		}
	}
}
