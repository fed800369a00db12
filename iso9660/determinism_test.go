package iso9660_test

import (
	"bytes"
	"crypto/sha256"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gonixiso/gonixiso/iso9660"
)

// TestDeterministic writes the same entries twice, the second time from a copy of the tree in
// another folder, with other file times and permissions on disk, with one core instead of all,
// and through an io.Writer instead of a file: the bytes are the same.
func TestDeterministic(t *testing.T) {
	src := t.TempDir()
	genTree(t, src)
	boot := nixBoot(bootFiles(t, src, 3<<20))
	first := writeISO(t, src, nixOptions("gonixiso-test-x86_64"), &boot)

	other := filepath.Join(t.TempDir(), "elsewhere")
	run(t, "cp", "-a", src, other)
	later := time.Date(2031, 5, 5, 12, 0, 0, 0, time.UTC)
	filepath.WalkDir(other, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type()&fs.ModeSymlink == 0 {
			if !d.IsDir() {
				fi, _ := d.Info()
				os.Chmod(p, fi.Mode()&0o111|0o600) // other permissions, the same execute bits
			}
			os.Chtimes(p, later, later)
		}
		return err
	})
	prev := runtime.GOMAXPROCS(1)
	second := writeISO(t, other, nixOptions("gonixiso-test-x86_64"), &boot)
	runtime.GOMAXPROCS(prev)

	var buf bytes.Buffer
	w, err := iso9660.NewWriter(&buf, nixOptions("gonixiso-test-x86_64"))
	if err != nil {
		t.Fatal(err)
	}
	addTree(t, w, src, "")
	w.SetBoot(boot)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	a, _ := os.ReadFile(first)
	b, _ := os.ReadFile(second)
	if !bytes.Equal(a, b) {
		t.Errorf("second image differs: sha256 %x and %x", sha256.Sum256(a), sha256.Sum256(b))
	}
	if !bytes.Equal(a, buf.Bytes()) {
		t.Errorf("image written to an io.Writer differs: sha256 %x and %x", sha256.Sum256(a), sha256.Sum256(buf.Bytes()))
	}

	// Another date or seed changes the image, so the comparisons above can fail.
	opts := nixOptions("gonixiso-test-x86_64")
	opts.GUIDSeed = []byte("another seed")
	c, _ := os.ReadFile(writeISO(t, src, opts, &boot))
	if bytes.Equal(a, c) {
		t.Error("another GUID seed gave the same image")
	}
	if !bytes.Equal(a[32768:len(a)-32768], c[32768:len(c)-32768]) {
		t.Error("the GUID seed changed more than the system area and the backup GPT")
	}
}

// TestNoHostState guards the rule that no host state reaches the image: the package's code
// reads no clock, no random source, no environment and no host or process identity.
func TestNoHostState(t *testing.T) {
	forbidden := map[string]bool{
		"time.Now": true, "time.Since": true, "time.Until": true,
		"os.Getenv": true, "os.LookupEnv": true, "os.Environ": true, "os.Hostname": true,
		"os.Getpid": true, "os.Getuid": true, "os.Getgid": true,
	}
	files, _ := filepath.Glob("*.go")
	fset := token.NewFileSet()
	n := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		n++
		for _, imp := range f.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); p == "math/rand" || p == "math/rand/v2" || p == "crypto/rand" {
				t.Errorf("%s imports %s", name, p)
			}
		}
		ast.Inspect(f, func(node ast.Node) bool {
			if sel, ok := node.(*ast.SelectorExpr); ok {
				if id, ok := sel.X.(*ast.Ident); ok && forbidden[id.Name+"."+sel.Sel.Name] {
					t.Errorf("%s: %s uses %s.%s", name, fset.Position(sel.Pos()), id.Name, sel.Sel.Name)
				}
			}
			return true
		})
	}
	if n < 5 {
		t.Fatalf("found only %d source files", n)
	}
}
