package nar_test

import (
	"crypto/sha256"
	"fmt"
	"io"
	"log"

	"github.com/gonixiso/gonixiso/closure/nar"
)

// A NAR written node by node, hashed as it is written: what Nix records as a store path's NAR
// hash and NAR size. (`nix-store --dump` of the same tree gives the same bytes.)
func ExampleWriter() {
	h := sha256.New()
	size := &countingWriter{}
	nw := nar.NewWriter(io.MultiWriter(h, size))

	contents := "#!/bin/sh\necho hello\n"
	for _, hdr := range []nar.Header{
		{Path: "/", Type: nar.TypeDirectory},
		{Path: "/bin", Type: nar.TypeDirectory},
		{Path: "/bin/hello", Type: nar.TypeRegular, Size: uint64(len(contents)), Executable: true},
		{Path: "/share", Type: nar.TypeSymlink, LinkTarget: "/nix/store/00000000000000000000000000000000-share"},
	} {
		if err := nw.WriteHeader(&hdr); err != nil {
			log.Fatal(err)
		}
		if hdr.Type == nar.TypeRegular {
			if _, err := io.WriteString(nw, contents); err != nil {
				log.Fatal(err)
			}
		}
	}
	if err := nw.Close(); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("NAR size %d\nsha256 %x\n", size.n, h.Sum(nil))
	// Output:
	// NAR size 744
	// sha256 5df5acc71c2a1dad0a345c0b8592bb36b236f05813f5862d7a96175946ccd846
}

type countingWriter struct{ n int64 }

func (c *countingWriter) Write(b []byte) (int, error) { c.n += int64(len(b)); return len(b), nil }
