// Command gonixiso assembles bootable NixOS ISO images natively: it turns a built NixOS toplevel
// into a hybrid ISO that boots from CD and USB, in BIOS and UEFI mode, without mksquashfs,
// xorriso or an iso-image.nix derivation.
//
// Run `gonixiso --help` for the commands.
//
// For profiling, GONIXISO_CPUPROFILE=FILE writes a CPU profile of the run and
// GONIXISO_MEMPROFILE=FILE a heap profile at its end (go tool pprof reads both);
// GONIXISO_TRACE=FILE writes an execution trace (go tool trace), which shows what waits for what.
package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
)

func main() {
	stop := profile()
	err := newApp(os.Stdout, os.Stderr).Run(os.Args)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "gonixiso: %v\n", err)
		os.Exit(exitCode(err))
	}
}

// profile starts the profiles the environment asks for and returns what ends them.
func profile() (stop func()) {
	cpu := startProfile("GONIXISO_CPUPROFILE", pprof.StartCPUProfile)
	tr := startProfile("GONIXISO_TRACE", trace.Start)
	return func() {
		if tr != nil {
			trace.Stop()
			tr.Close()
		}
		if cpu != nil {
			pprof.StopCPUProfile()
			cpu.Close()
		}
		if name := os.Getenv("GONIXISO_MEMPROFILE"); name != "" {
			runtime.GC()
			f, err := os.Create(name)
			if err == nil {
				err = pprof.WriteHeapProfile(f)
				if cerr := f.Close(); err == nil {
					err = cerr
				}
			}
			if err != nil {
				fmt.Fprintf(os.Stderr, "gonixiso: GONIXISO_MEMPROFILE: %v\n", err)
			}
		}
	}
}

// startProfile creates the file the environment variable env names, if it names one, and starts
// writing a profile to it with start. It returns the file, or nil.
func startProfile(env string, start func(io.Writer) error) *os.File {
	name := os.Getenv(env)
	if name == "" {
		return nil
	}
	f, err := os.Create(name)
	if err == nil {
		if err = start(f); err != nil {
			f.Close()
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "gonixiso: %s: %v\n", env, err)
		return nil
	}
	return f
}
