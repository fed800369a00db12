package closure_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"strings"

	"github.com/gonixiso/gonixiso/closure"
	"github.com/gonixiso/gonixiso/closure/nar"
)

// A registration as closureInfo writes it, and read back.
func ExampleClosure_WriteRegistration() {
	lib := "/nix/store/ppkfajxkvpn0mkpqn8q4fpqg1mnkmdgn-lib"
	app := "/nix/store/7yj4c3hq0d4j8yjcwkz6rmwxs2g9zbqb-app"
	c := &closure.Closure{
		StoreDir: closure.DefaultStoreDir,
		Roots:    []string{app},
		Paths: []closure.Path{
			{Path: app, NarHash: mustHash("sha256-ypeBEsobvcr6wjGzmiPcTaeG7/gUfE5yuYB3ha/uSLs="), NarSize: 1200, References: []string{lib, app}},
			{Path: lib, NarHash: mustHash("sha256:3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d"), NarSize: 96},
		},
	}
	var reg strings.Builder
	if err := c.WriteRegistration(&reg); err != nil {
		log.Fatal(err)
	}
	fmt.Print(reg.String())

	paths, err := closure.ReadRegistration(strings.NewReader(reg.String()))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(paths), "paths;", paths[0].Path, "refers to", len(paths[0].References))
	// Output:
	// /nix/store/7yj4c3hq0d4j8yjcwkz6rmwxs2g9zbqb-app
	// sha256:1fs8xspqaxw0p5r4wz0lz3pqd9sdvhirmcriqbxcmg8vr89835ya
	// 1200
	//
	// 2
	// /nix/store/7yj4c3hq0d4j8yjcwkz6rmwxs2g9zbqb-app
	// /nix/store/ppkfajxkvpn0mkpqn8q4fpqg1mnkmdgn-lib
	// /nix/store/ppkfajxkvpn0mkpqn8q4fpqg1mnkmdgn-lib
	// sha256:1780kkasxvkkrd52rm4801xbv2rln7hn8ragi4rlln9r00bfh8ry
	// 96
	//
	// 0
	// 2 paths; /nix/store/7yj4c3hq0d4j8yjcwkz6rmwxs2g9zbqb-app refers to 2
}

func mustHash(s string) closure.Hash {
	h, err := closure.ParseHash(s)
	if err != nil {
		log.Fatal(err)
	}
	return h
}

// The closure of a toplevel, from the first source that works, written as the image's
// nix-path-registration.
func ExampleCompute() {
	top, err := closure.Store{Dir: closure.DefaultStoreDir}.Resolve("result") // a nix build result link
	if err != nil {
		log.Fatal(err)
	}
	c, err := closure.Compute(context.Background(), []string{top}, closure.Options{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d paths, %d bytes of NAR, from the %v source\n", len(c.Paths), c.NarSize(), c.Source)
	if err := c.WriteRegistration(os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// A caller that already reads a store path's files, in NAR order, hashes and scans them as it
// goes: a nar.Writer writing into a Hasher. Here the path is a single file that mentions a lib
// (nix-store --dump of the same file is 216 bytes too).
func ExampleHasher() {
	lib := "/nix/store/ppkfajxkvpn0mkpqn8q4fpqg1mnkmdgn-lib"
	script := "/nix/store/7yj4c3hq0d4j8yjcwkz6rmwxs2g9zbqb-script"
	cands, err := closure.NewCandidates([]string{lib, script})
	if err != nil {
		log.Fatal(err)
	}
	h := closure.NewHasher(cands)
	nw := nar.NewWriter(h)
	contents := "#!/bin/sh\nexec " + lib + "/bin/run\n"
	if err := nw.WriteHeader(&nar.Header{Path: "/", Type: nar.TypeRegular, Size: uint64(len(contents)), Executable: true}); err != nil {
		log.Fatal(err)
	}
	if _, err := nw.Write([]byte(contents)); err != nil {
		log.Fatal(err)
	}
	if err := nw.Close(); err != nil {
		log.Fatal(err)
	}
	p := h.Sum(script)
	fmt.Println(p.NarSize, p.References)
	// Output:
	// 216 [/nix/store/ppkfajxkvpn0mkpqn8q4fpqg1mnkmdgn-lib]
}
