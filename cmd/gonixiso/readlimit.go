package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/gonixiso/gonixiso/liveiso"
	"github.com/gonixiso/gonixiso/squash"
)

// The readers' limits (squash.Limits) on the command line: inspect, diff and manifest bound
// what they read of an image, and --read-limit raises the bounds for big or unusual images.

var readLimitFlag = &cli.StringFlag{
	Name: "read-limit",
	Usage: "raise what the readers may read of an image: a factor of the defaults (\"4x\"), and/or limits by name " +
		"(\"contents=64G,metadata=2G,entries=512M\"); defaults: contents 32, metadata 4 and entries 1/4 times the image's size",
}

// limitNames are the keys of --read-limit and the squash.Limits fields they set.
var limitNames = []struct {
	key, field string
	set        func(*liveiso.Limits, int64)
}{
	{"contents", "Limits.Contents", func(l *liveiso.Limits, n int64) { l.Contents = n }},
	{"metadata", "Limits.Metadata", func(l *liveiso.Limits, n int64) { l.Metadata = n }},
	{"entries", "Limits.EntryBytes", func(l *liveiso.Limits, n int64) { l.EntryBytes = n }},
}

// readLimits parses --read-limit for the images named (a factor multiplies the defaults of the
// largest). Without the flag, the limits are the defaults.
func readLimits(c *cli.Context, files []string) (liveiso.Limits, error) {
	var l liveiso.Limits
	if !c.IsSet(readLimitFlag.Name) {
		return l, nil
	}
	bad := func(format string, args ...any) (liveiso.Limits, error) {
		return liveiso.Limits{}, &exitError{exitFailure, fmt.Errorf("--read-limit %q: %s (want a factor such as 4x, "+
			"and/or contents=SIZE, metadata=SIZE, entries=SIZE)", c.String(readLimitFlag.Name), fmt.Sprintf(format, args...))}
	}
	for _, part := range strings.Split(c.String(readLimitFlag.Name), ",") {
		part = strings.TrimSpace(part)
		key, val, named := strings.Cut(part, "=")
		if !named {
			f, err := strconv.ParseFloat(strings.TrimSuffix(part, "x"), 64)
			if err != nil || f < 1 || f > 1<<20 {
				return bad("%q is not a factor of 1 or more", part)
			}
			var size int64
			for _, name := range files {
				if fi, err := os.Stat(name); err == nil {
					size = max(size, fi.Size())
				}
			}
			d := squash.DefaultLimits(size)
			scale := func(n int64) int64 { return int64(min(float64(n)*f, 1<<62)) }
			l = liveiso.Limits{Contents: max(l.Contents, scale(d.Contents)), Metadata: max(l.Metadata, scale(d.Metadata)),
				EntryBytes: max(l.EntryBytes, scale(d.EntryBytes))}
			continue
		}
		n, err := parseBytes(strings.TrimSpace(val))
		if err != nil || n <= 0 {
			return bad("%q is not a size", val)
		}
		found := false
		for _, k := range limitNames {
			if k.key == strings.TrimSpace(key) {
				k.set(&l, n)
				found = true
			}
		}
		if !found {
			return bad("no limit %q", key)
		}
	}
	return l, nil
}

// limitError says, for an error of a reader past its limits, which --read-limit raises it;
// other errors are returned as they are.
func limitError(err error) error {
	if err == nil || !errors.Is(err, squash.ErrLimit) {
		return err
	}
	msg := err.Error()
	for _, k := range limitNames {
		if strings.Contains(msg, "("+k.field+")") {
			msg = strings.ReplaceAll(msg, "("+k.field+")", "(raise it with --read-limit "+k.key+"=SIZE, or --read-limit 4x for all)")
			return &exitError{exitFailure, &limitErr{msg: msg, err: err}}
		}
	}
	return &exitError{exitFailure, &limitErr{msg: msg + " (raise the limits with --read-limit 4x)", err: err}}
}

// limitErr is a limit error said in the command line's terms.
type limitErr struct {
	msg string
	err error
}

func (e *limitErr) Error() string { return e.msg }
func (e *limitErr) Unwrap() error { return e.err }
