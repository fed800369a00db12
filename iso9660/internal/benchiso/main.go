// Command benchiso writes the files named on its command line into an ISO image with the
// iso9660 Writer, with the options nixpkgs gives xorriso (Rock Ridge, Joliet, level 3). It is
// what scripts/bench-iso times against `xorriso -as mkisofs -iso-level 3 -r -J`.
//
//	benchiso -o out.iso file...
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/gonixiso/gonixiso/iso9660"
)

func main() {
	out := flag.String("o", "", "the image to write")
	volid := flag.String("volid", "BENCH", "the volume id")
	flag.Parse()
	if *out == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: benchiso -o out.iso file...")
		os.Exit(2)
	}
	if err := run(*out, *volid, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "benchiso:", err)
		os.Exit(1)
	}
}

func run(out, volid string, files []string) error {
	w, err := iso9660.Create(out, iso9660.Options{
		VolumeID: volid,
		ModTime:  time.Unix(315532800, 0),
		Joliet:   true,
	})
	if err != nil {
		return err
	}
	for _, f := range files {
		src, err := iso9660.FromFile(f)
		if err != nil {
			return err
		}
		if err := w.AddFile(filepath.Base(f), iso9660.Header{Mode: 0o444}, src); err != nil {
			return err
		}
	}
	return w.Close()
}
