package main

import (
	"bytes"
	"strings"
	"testing"
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
	_, _, err := run(t, "--verbose", "--quiet", "version")
	if err == nil || exitCode(err) != 2 {
		t.Fatalf("--verbose --quiet: err %v (exit %d), want a usage error with exit 2", err, exitCode(err))
	}
}

func TestBadFlag(t *testing.T) {
	_, _, err := run(t, "--no-such-flag")
	if err == nil || exitCode(err) != 2 {
		t.Fatalf("unknown flag: err %v (exit %d), want exit 2", err, exitCode(err))
	}
}
