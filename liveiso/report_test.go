package liveiso

import (
	"bytes"
	"context"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gonixiso/gonixiso/internal/testsystem"
)

func TestSquarify(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{1, 2, 3, 7, 40, 300} {
		weights := make([]float64, n)
		var total float64
		for i := range weights {
			weights[i] = math.Exp(rng.Float64() * 12) // over five orders of magnitude
		}
		slicesSortDesc(weights)
		for _, w := range weights {
			total += w
		}
		const W, H = 1000.0, 620.0
		tiles := squarify(weights, 0, 0, W, H)
		if len(tiles) != n {
			t.Fatalf("%d weights, %d tiles", n, len(tiles))
		}
		seen := map[int]bool{}
		var area float64
		for _, tl := range tiles {
			seen[tl.I] = true
			a := tl.W * tl.H
			area += a
			if want := weights[tl.I] / total * W * H; math.Abs(a-want) > 1e-6*W*H {
				t.Errorf("n=%d: tile %d has area %g, want %g", n, tl.I, a, want)
			}
			if tl.X < -1e-6 || tl.Y < -1e-6 || tl.X+tl.W > W+1e-6 || tl.Y+tl.H > H+1e-6 {
				t.Errorf("n=%d: tile %+v outside the map", n, tl)
			}
		}
		if len(seen) != n || math.Abs(area-W*H) > 1e-6*W*H {
			t.Errorf("n=%d: %d distinct tiles covering %g of %g", n, len(seen), area, W*H)
		}
		for i := range tiles {
			for j := i + 1; j < len(tiles) && n <= 40; j++ {
				a, b := tiles[i], tiles[j]
				ox := math.Min(a.X+a.W, b.X+b.W) - math.Max(a.X, b.X)
				oy := math.Min(a.Y+a.H, b.Y+b.H) - math.Max(a.Y, b.Y)
				if ox > 1e-6 && oy > 1e-6 {
					t.Errorf("n=%d: tiles %+v and %+v overlap", n, a, b)
				}
			}
		}
	}
}

func slicesSortDesc(a []float64) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j] > a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}

// chromium runs headless Chromium on the page with more arguments (--dump-dom,
// --screenshot=...), as this machine needs it run (no sandbox, GPU or network services), and
// returns its standard output and error.
func chromium(t *testing.T, page string, args ...string) (string, string) {
	t.Helper()
	testsystem.Require(t, "chromium")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	all := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(), "--enable-logging=stderr", "--v=0", "--window-size=1400,1300"}, args...)
	cmd := exec.CommandContext(ctx, "chromium", append(all, "file://"+page)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
	}
	return stdout.String(), stderr.String()
}

// consoleLine is a message of the page's console (an error, a warning, a log, or an exception
// not caught) as Chromium logs it with --enable-logging=stderr.
var consoleLine = regexp.MustCompile(`(?m)^.*:CONSOLE[:(].*$`)

// checkPage opens the report in Chromium: it must render with no console message (the page
// logs nothing, so any is an error, a refused load or an exception), its script must have run,
// and its treemap must have one rectangle per store path. A screenshot is kept in the test's
// folder, and copied to $GONIXISO_ARTIFACTS when set.
func checkPage(t *testing.T, html []byte, name string, paths int) {
	t.Helper()
	dir := t.TempDir()
	page := filepath.Join(dir, name+".html")
	if err := os.WriteFile(page, html, 0o644); err != nil {
		t.Fatal(err)
	}
	// Self-contained: nothing to load, from anywhere.
	for _, bad := range []string{"http:", "https:", "<link", " src=", "@import", "url("} {
		if bytes.Contains(html, []byte(bad)) {
			t.Errorf("%s: the page has %q: it must load nothing", name, bad)
		}
	}
	dom, log := chromium(t, page, "--dump-dom")
	for _, l := range consoleLine.FindAllString(log, -1) {
		t.Errorf("%s: console: %s", name, l)
	}
	rects := regexp.MustCompile(`<rect class="sp[ "]`).FindAllString(dom, -1)
	if len(rects) != paths {
		t.Errorf("%s: %d store path rectangles in the treemap, want %d", name, len(rects), paths)
	}
	ready := regexp.MustCompile(`<body[^>]* data-ready="(\d+)"`).FindStringSubmatch(dom)
	if ready == nil {
		t.Errorf("%s: the page's script did not finish (no data-ready on the body)", name)
	} else if n, _ := strconv.Atoi(ready[1]); n != paths {
		t.Errorf("%s: the script found %d store path tiles, want %d", name, n, paths)
	}
	if rows := strings.Count(dom, "<tr data-key="); rows != paths {
		t.Errorf("%s: %d rows in the table, want %d", name, rows, paths)
	}
	shot := filepath.Join(dir, name+".png")
	if _, log := chromium(t, page, "--screenshot="+shot, "--hide-scrollbars"); consoleLine.MatchString(log) {
		t.Errorf("%s: console: %s", name, consoleLine.FindString(log))
	}
	png, err := os.ReadFile(shot)
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) || len(png) < 10<<10 {
		t.Fatalf("%s: no screenshot (%v, %d bytes)", name, err, len(png))
	}
	t.Logf("%s: screenshot %s (%d KiB)", name, shot, len(png)>>10)
	if art := os.Getenv("GONIXISO_ARTIFACTS"); art != "" {
		if err := os.MkdirAll(art, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(art, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(art, name+".html"), html, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestReportInChromium opens the inspect and diff reports of gonixiso's images of the test
// system in headless Chromium.
func TestReportInChromium(t *testing.T) {
	im := buildSizeImages(t)
	insA, err := Inspect(context.Background(), im.a)
	if err != nil {
		t.Fatal(err)
	}
	insB, err := Inspect(context.Background(), im.b)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteInspectionHTML(&buf, insA); err != nil {
		t.Fatal(err)
	}
	checkPage(t, buf.Bytes(), "report-inspect", len(insA.StorePaths))

	rep := diffOf(t, im.a, im.b)
	buf.Reset()
	if err := WriteDiffHTML(&buf, rep, insA, insB); err != nil {
		t.Fatal(err)
	}
	// Every store path of B, and A's hello-2.12, paired with B's.
	checkPage(t, buf.Bytes(), "report-diff", len(insB.StorePaths))
	for _, want := range []string{`class="sp grown"`, "hello", "2.12 → 2.12.1"} {
		if !bytes.Contains(buf.Bytes(), []byte(want)) {
			t.Errorf("the diff report lacks %q", want)
		}
	}
}

// TestChromiumConsole: the console check sees what goes wrong on a page: an exception not
// caught, and a load the page's policy refuses.
func TestChromiumConsole(t *testing.T) {
	page := filepath.Join(t.TempDir(), "broken.html")
	html := `<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'">` +
		`</head><body><img src="https://example.invalid/x.png"><script>null.x();</script></body></html>`
	if err := os.WriteFile(page, []byte(html), 0o644); err != nil {
		t.Fatal(err)
	}
	_, log := chromium(t, page, "--dump-dom")
	lines := consoleLine.FindAllString(log, -1)
	if len(lines) < 2 || !strings.Contains(strings.Join(lines, "\n"), "Uncaught TypeError") ||
		!strings.Contains(strings.Join(lines, "\n"), "Content Security Policy") {
		t.Errorf("console lines %q, want the exception and the refused load", lines)
	}
}
