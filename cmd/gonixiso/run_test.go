package main

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestRun (slow: QEMU) boots the test system's ISO with gonixiso run in each mode, as a user
// would, without touching a key: its default entry boots, and the serial console on the
// command's standard output shows stage 2's marker.
func TestRun(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: boots QEMU")
	}
	iso := builtISO(t)
	for _, flags := range [][]string{nil, {"--bios"}, {"--usb"}, {"--bios", "--usb"}} {
		t.Run(strings.Join(append([]string{"uefi"}, flags...), ""), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			args := append([]string{"run", "--no-kvm", "--no-display", "--cpus", "1", "--memory", "1024", "--disk-size", "64M"}, flags...)
			cmd := exec.CommandContext(ctx, gonixisoBin(t), append(args, iso)...)
			cmd.Env = testEnv()
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			err := cmd.Run()
			if err != nil || !strings.Contains(out.String(), "GONIXISO-STAGE2-OK config=main") {
				tail := out.String()
				if len(tail) > 3000 {
					tail = tail[len(tail)-3000:]
				}
				t.Fatalf("gonixiso run %v: %v\n%s", flags, err, tail)
			}
		})
	}
	// A missing ISO is a usage error, not a QEMU failure.
	if log, code := runCLI(t, "run", "/does/not/exist.iso"); code != 2 || !strings.Contains(log, "/does/not/exist.iso") {
		t.Errorf("exit %d:\n%s", code, log)
	}
}
