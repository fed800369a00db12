// Command boot-test boots an ISO image in QEMU and checks that the gonixiso test system came up.
// scripts/boot-test runs it; see package boottest.
//
//	boot-test [-entry NAME] [-timeout 120s] [-log DIR] ISO MODE...
//
// MODE is cd-bios, cd-uefi, usb-bios, usb-uefi, or all. Exit status: 0 when every mode passed,
// 1 when a boot failed (a failure line or a wrong marker), 2 when one timed out, 3 when the
// harness could not run.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"github.com/gonixiso/gonixiso/internal/boottest"
)

func main() {
	entry := flag.String("entry", "", "boot this specialisation's menu entry instead of the default")
	timeout := flag.Duration("timeout", boottest.MaxTimeout, "time limit per boot (at most 120s)")
	logDir := flag.String("log", "", "write each boot's serial console to DIR/<mode>.log")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: boot-test [-entry NAME] [-timeout D] [-log DIR] ISO MODE...\nmodes: cd-bios cd-uefi usb-bios usb-uefi all\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() < 2 {
		flag.Usage()
		os.Exit(3)
	}
	iso := flag.Arg(0)
	var modes []boottest.Mode
	for _, a := range flag.Args()[1:] {
		if a == "all" {
			modes = append(modes, boottest.Modes...)
			continue
		}
		m, err := boottest.ParseMode(a)
		if err != nil {
			fmt.Fprintln(os.Stderr, "boot-test:", err)
			os.Exit(3)
		}
		modes = append(modes, m)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	status := 0
	for _, m := range modes {
		opts := boottest.Options{ISO: iso, Mode: m, Entry: *entry, Timeout: *timeout}
		if *logDir != "" {
			if err := os.MkdirAll(*logDir, 0o755); err != nil {
				fmt.Fprintln(os.Stderr, "boot-test:", err)
				os.Exit(3)
			}
			opts.Log = filepath.Join(*logDir, string(m)+".log")
		}
		res, err := boottest.Boot(ctx, opts)
		if err != nil {
			fmt.Fprintf(os.Stderr, "boot-test: %s: %v\n", m, err)
			os.Exit(3)
		}
		name := *entry
		if name == "" {
			name = "main"
		}
		fmt.Printf("%-8s %-6s %-7s %5.1fs  %s\n", m, name, res.Outcome, res.Duration.Seconds(), res.Reason)
		if res.Outcome != boottest.Pass {
			fmt.Printf("--- last lines of the serial console (%s):\n%s\n---\n", m, indent(res.Tail))
			code := 1
			if res.Outcome == boottest.Timeout {
				code = 2
			}
			if code > status {
				status = code
			}
		}
	}
	os.Exit(status)
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}
