package liveiso

import (
	_ "embed"
	"fmt"
	"github.com/gonixiso/gonixiso/closure"
	"html/template"
	"io"
	"math"
	"path"
	"sort"
	"strings"
)

// This file writes the HTML reports of `gonixiso inspect --html` and `diff --html`: one page
// that needs nothing but itself (its CSS and script inline, a Content-Security-Policy that lets
// it fetch nothing), with a treemap of the SquashFS by store path, the boot records and menus
// beside it, and a table of the store paths that a search box filters. The treemap is laid out
// here (treemap.go) and drawn as SVG: the page shows it without its script, which only filters,
// sorts and links the table and the treemap.

//go:embed report.html
var reportHTML string

var reportTemplate = template.Must(template.New("report").Parse(reportHTML))

// Treemap's size, in the SVG's units.
const treemapW, treemapH = 1000.0, 620.0

// reportPage is what the template shows.
type reportPage struct {
	Title    string
	Diff     bool
	Summary  []keyValue
	Note     string
	Tiles    []reportTile
	Legend   []legendItem
	Columns  []column
	Rows     []reportRow
	Boot     []keyValue
	Menus    []reportMenu
	Changes  []Difference // diff: the differences, the first maxReportChanges
	More     int          // diff: differences not shown
	Treemap  string       // what the treemap shows
	ViewBox  string
	Identity string // the page's generator and version line
}

type keyValue struct{ Key, Value string }

type reportTile struct {
	Key, Class, Fill, Label, Title string
	X, Y, W, H                     string
	LabelX, LabelY                 string
	ShowLabel                      bool
	Sub, SubY                      string // a second line, where it fits: the cost
}

type legendItem struct{ Fill, Text string }

type column struct {
	Name    string
	Numeric bool
}

type reportRow struct {
	Key   string
	Class string
	Cells []cell
}

type cell struct {
	Text  string
	Value string // for sorting: a number, or the text
	Title string
	Fill  string // a swatch before the text
}

type reportMenu struct {
	Name    string
	Entries []MenuEntry
}

// maxReportChanges bounds the differences a diff report lists.
const maxReportChanges = 2000

// WriteInspectionHTML writes the report of an inspection as one self-contained HTML page.
func WriteInspectionHTML(w io.Writer, ins *Inspection) error {
	p := &reportPage{Title: "gonixiso inspect " + path.Base(ins.File), Treemap: "cost in the SquashFS, coloured by compression ratio"}
	p.Summary = append(p.Summary, keyValue{"image", fmt.Sprintf("%s: %s", ins.File, sizeText(ins.Size))},
		keyValue{"volume id", ins.Primary.VolumeID})
	if s := ins.SquashFS; s != nil {
		p.Summary = append(p.Summary,
			keyValue{"SquashFS", fmt.Sprintf("%s, %s %s, %s blocks", sizeText(s.Size), s.Compression, s.Options, sizeText(int64(s.BlockSize)))},
			keyValue{"contents", fmt.Sprintf("%d store paths, %d files (%s), %d directories, %d symlinks; ratio %.2f",
				len(ins.StorePaths), s.Files, sizeText(s.FileBytes), s.Directories, s.Symlinks, s.Ratio)})
		if k := s.Costs; k != nil {
			p.Summary = append(p.Summary, keyValue{"costs", fmt.Sprintf("%s: store paths %s, registration %s, root %s, "+
				"superblock %s, tables %s, padding %s: %s in all", k.Basis, sizeText(k.StorePaths), sizeText(k.Registration),
				sizeText(k.Root), sizeText(k.Superblock), sizeText(k.Tables), sizeText(k.Padding), sizeText(k.Total))})
			p.Note = k.Why
		}
	}
	p.Boot, p.Menus = bootOf(ins)

	// The treemap: the store paths by cost, and the image-wide parts as one more tile.
	type item struct {
		key, label, title, fill, class string
		weight                         float64
	}
	var items []item
	var total int64
	if ins.SquashFS != nil {
		total = ins.SquashFS.Size
	}
	for _, sp := range ins.StorePaths {
		r := ratioOf(sp.Size, sp.Cost)
		items = append(items, item{key: path.Base(sp.Path), label: storeLabel(sp.Path), class: "sp", fill: ratioColour(r),
			weight: float64(max(sp.Cost, 1)),
			title: fmt.Sprintf("%s\ncost %s (%s of the SquashFS): data %s, fragments %s, metadata %s\n%s of files, ratio %s",
				sp.Path, sizeText(sp.Cost), percentText(sp.Cost, total), sizeText(sp.CostData), sizeText(sp.CostFragments),
				sizeText(sp.CostMetadata), sizeText(sp.Size), ratioText(r))})
	}
	if s := ins.SquashFS; s != nil && s.Costs != nil {
		if wide := s.Costs.Total - s.Costs.StorePaths; wide > 0 {
			items = append(items, item{key: "", label: "image-wide", class: "wide", fill: "#d5d8de", weight: float64(wide),
				title: fmt.Sprintf("image-wide parts: %s (registration, root directory, superblock, tables, padding)", sizeText(wide))})
		}
	}
	sort.SliceStable(items, func(i, j int) bool { return items[i].weight > items[j].weight })
	weights := make([]float64, len(items))
	for i, it := range items {
		weights[i] = it.weight
	}
	for _, t := range squarify(weights, 0, 0, treemapW, treemapH) {
		it := items[t.I]
		p.Tiles = append(p.Tiles, makeTile(t, it.key, it.class, it.fill, it.label, sizeText(int64(it.weight)), it.title))
	}
	p.Legend = []legendItem{{ratioColour(1), "1× (stored as it is)"}, {ratioColour(2), "2×"}, {ratioColour(4), "4×"},
		{ratioColour(8), "8× and more"}, {ratioColour(0), "no files"}, {"#d5d8de", "image-wide parts"}}

	p.Columns = []column{{"store path", false}, {"cost", true}, {"share", true}, {"data", true}, {"fragments", true},
		{"metadata", true}, {"size", true}, {"ratio", true}, {"files", true}, {"duplicates", true}}
	for _, sp := range ins.StorePaths {
		r := ratioOf(sp.Size, sp.Cost)
		p.Rows = append(p.Rows, reportRow{Key: path.Base(sp.Path), Cells: []cell{
			{Text: sp.Path, Value: sp.Path, Fill: ratioColour(r), Title: sp.NarHash},
			numCell(sizeText(sp.Cost), sp.Cost), {Text: percentText(sp.Cost, total), Value: fmt.Sprint(sp.Cost)},
			numCell(sizeText(sp.CostData), sp.CostData), numCell(sizeText(sp.CostFragments), sp.CostFragments),
			numCell(sizeText(sp.CostMetadata), sp.CostMetadata), numCell(sizeText(sp.Size), sp.Size),
			{Text: ratioText(r), Value: fmt.Sprintf("%.4f", r)}, numCell(fmt.Sprint(sp.Files), int64(sp.Files)),
			numCell(fmt.Sprint(sp.Duplicates), int64(sp.Duplicates)),
		}})
	}
	return render(w, p)
}

// WriteDiffHTML writes the report of a comparison as one self-contained HTML page: the
// treemap shows B's store paths and those only A has, sized by the larger of their costs and
// coloured by their change. a and b are the two images' inspections.
func WriteDiffHTML(w io.Writer, rep *DiffReport, a, b *Inspection) error {
	p := &reportPage{Title: "gonixiso diff " + path.Base(rep.A) + " " + path.Base(rep.B), Diff: true,
		Treemap: "store paths of both images, sized by the larger of their costs, coloured by their change"}
	p.Summary = append(p.Summary, keyValue{"A", rep.A}, keyValue{"B", rep.B})
	if rep.Identical {
		p.Summary = append(p.Summary, keyValue{"result", "identical"})
	} else {
		p.Summary = append(p.Summary, keyValue{"result", fmt.Sprintf("%d differences", len(rep.Differences))})
	}
	z := rep.Sizes
	if z != nil {
		p.Summary = append(p.Summary, keyValue{"ISO", fmt.Sprintf("%s → %s (%s)", sizeText(z.ISO.A), sizeText(z.ISO.B), signedBytes(z.ISO.Delta))},
			keyValue{"SquashFS", fmt.Sprintf("%s → %s (%s; costs %s)", sizeText(z.SquashFS.A), sizeText(z.SquashFS.B),
				signedBytes(z.SquashFS.Delta), map[bool]string{true: "exact", false: "estimated"}[z.Basis == CostExact])},
			keyValue{"why", fmt.Sprintf("store paths added, removed or changed (%d): %s; unchanged store paths: %s; image-wide parts: %s",
				len(z.StorePaths), signedBytes(sumDeltas(z.StorePaths)), signedBytes(z.Unchanged.Delta), signedBytes(z.Other.Delta))})
	}
	p.Boot, p.Menus = bootOf(b)
	for _, d := range rep.Differences {
		if d.Level == LevelISO || d.Level == LevelBoot {
			p.Boot = append(p.Boot, keyValue{string(d.Level) + " " + d.Path, d.Message})
		}
	}
	if len(rep.Differences) > maxReportChanges {
		p.Changes, p.More = rep.Differences[:maxReportChanges], len(rep.Differences)-maxReportChanges
	} else {
		p.Changes = rep.Differences
	}

	// Every store path of either image: its change, if any, and its costs.
	type row struct {
		key, name, change, va, vb, pa, pb string
		costA, costB, sizeA, sizeB        int64
		entries                           int
	}
	var rows []*row
	byPath := map[string]*row{}
	if z != nil {
		for _, d := range z.StorePaths {
			r := &row{key: path.Base(cmpOr(d.B, d.A)), name: d.Name, change: d.Change, va: d.VersionA, vb: d.VersionB,
				pa: d.A, pb: d.B, costA: d.Cost.A, costB: d.Cost.B, sizeA: d.Size.A, sizeB: d.Size.B, entries: d.Files}
			rows = append(rows, r)
			for _, q := range []string{d.A, d.B} {
				if q != "" {
					byPath[q] = r
				}
			}
		}
	}
	costsOf := func(ins *Inspection) map[string]StorePathInfo {
		m := map[string]StorePathInfo{}
		if ins != nil {
			for _, sp := range ins.StorePaths {
				m[sp.Path] = sp
			}
		}
		return m
	}
	ca := costsOf(a)
	if b != nil {
		for _, sp := range b.StorePaths {
			if byPath[sp.Path] != nil {
				continue
			}
			r := &row{key: path.Base(sp.Path), name: closure.ParseName(path.Base(sp.Path)).String(), change: "unchanged",
				pa: sp.Path, pb: sp.Path, costB: sp.Cost, sizeB: sp.Size, costA: sp.Cost, sizeA: sp.Size}
			if x, ok := ca[sp.Path]; ok {
				r.costA, r.sizeA = x.Cost, x.Size
			}
			v := closure.ParseName(path.Base(sp.Path)).Version
			r.va, r.vb = v, v
			rows = append(rows, r)
		}
	}
	kind := func(r *row) string {
		switch {
		case r.change != "changed":
			return r.change
		case r.costB > r.costA:
			return "grown"
		case r.costB < r.costA:
			return "shrunk"
		}
		return "changed"
	}
	var weights []float64
	sort.SliceStable(rows, func(i, j int) bool { return max(rows[i].costA, rows[i].costB) > max(rows[j].costA, rows[j].costB) })
	for _, r := range rows {
		weights = append(weights, float64(max(r.costA, r.costB, 1)))
	}
	for _, t := range squarify(weights, 0, 0, treemapW, treemapH) {
		r := rows[t.I]
		k := kind(r)
		title := fmt.Sprintf("%s: %s\n%s", r.name, k, cmpOr(r.pb, r.pa))
		if r.va != r.vb {
			title += fmt.Sprintf("\nversion %s → %s", versionOrNone(r.va), versionOrNone(r.vb))
		}
		title += fmt.Sprintf("\ncost %s → %s (%s), files %s → %s (%s)", sizeText(r.costA), sizeText(r.costB),
			signedBytes(r.costB-r.costA), sizeText(r.sizeA), sizeText(r.sizeB), signedBytes(r.sizeB-r.sizeA))
		sub := sizeText(r.costB)
		if k != "unchanged" {
			sub = signedBytes(r.costB - r.costA)
		}
		p.Tiles = append(p.Tiles, makeTile(t, r.key, "sp "+k, changeColour[k], storeLabel(cmpOr(r.pb, r.pa)), sub, title))
	}
	for _, k := range []string{"added", "removed", "grown", "shrunk", "changed", "unchanged"} {
		p.Legend = append(p.Legend, legendItem{changeColour[k], k})
	}
	p.Columns = []column{{"change", false}, {"package", false}, {"version", false}, {"store path", false},
		{"cost A", true}, {"cost B", true}, {"Δ cost", true}, {"Δ size", true}, {"entries", true}}
	sort.SliceStable(rows, func(i, j int) bool {
		return abs(rows[i].costB-rows[i].costA) > abs(rows[j].costB-rows[j].costA)
	})
	for _, r := range rows {
		k := kind(r)
		version := versionOrNone(r.vb)
		if r.va != r.vb {
			version = versionOrNone(r.va) + " → " + versionOrNone(r.vb)
		}
		entries := ""
		if r.change != "unchanged" {
			entries = fmt.Sprint(r.entries)
		}
		p.Rows = append(p.Rows, reportRow{Key: r.key, Class: k, Cells: []cell{
			{Text: k, Value: k, Fill: changeColour[k]}, {Text: r.name, Value: r.name}, {Text: version, Value: version},
			{Text: cmpOr(r.pb, r.pa), Value: cmpOr(r.pb, r.pa), Title: map[bool]string{true: "was " + r.pa}[r.pa != r.pb && r.pa != ""]},
			numCell(sizeText(r.costA), r.costA), numCell(sizeText(r.costB), r.costB), numCell(signedBytes(r.costB-r.costA), r.costB-r.costA),
			numCell(signedBytes(r.sizeB-r.sizeA), r.sizeB-r.sizeA), {Text: entries, Value: cmpOr(entries, "0")},
		}})
	}
	return render(w, p)
}

var changeColour = map[string]string{
	"added": "#2e9d4a", "removed": "#c8372d", "grown": "#e08a1e", "shrunk": "#2f7fc1", "changed": "#8a5cc2",
	"unchanged": "#c3c7ce",
}

func render(w io.Writer, p *reportPage) error {
	p.ViewBox = fmt.Sprintf("0 0 %g %g", treemapW, treemapH)
	p.Identity = "made by gonixiso; one self-contained page: it loads nothing"
	return reportTemplate.Execute(w, p)
}

// bootOf returns the boot records and menus of an inspection, for the panel beside the
// treemap.
func bootOf(ins *Inspection) ([]keyValue, []reportMenu) {
	if ins == nil {
		return nil, nil
	}
	var boot []keyValue
	if et := ins.ElTorito; et != nil {
		for i, e := range et.Entries {
			boot = append(boot, keyValue{fmt.Sprintf("El Torito %d", i+1), fmt.Sprintf("%s, %s, emulation %s, %d sectors at %d: %s",
				e.Platform, map[bool]string{true: "bootable", false: "not bootable"}[e.Bootable], e.Emulation, e.LoadSectors, e.LBA, e.Path)})
		}
	} else {
		boot = append(boot, keyValue{"El Torito", "none"})
	}
	if m := ins.MBR; m != nil {
		for _, pt := range m.Partitions {
			boot = append(boot, keyValue{fmt.Sprintf("MBR %d", pt.Index), fmt.Sprintf("type %#02x %s, %d sectors at %d %s",
				pt.Type, pt.TypeName, pt.Sectors, pt.Start, pt.Path)})
		}
	}
	if g := ins.GPT; g != nil {
		for _, pt := range g.Partitions {
			boot = append(boot, keyValue{fmt.Sprintf("GPT %d", pt.Index), fmt.Sprintf("%q %s, sectors %d-%d %s", pt.Name,
				cmpOr(pt.TypeName, pt.Type), pt.FirstLBA, pt.LastLBA, pt.Path)})
		}
	}
	if e := ins.Boot.EFIImage; e != nil {
		v := fmt.Sprintf("%s, %s", e.Path, sizeText(e.Size))
		if e.Error == "" {
			v += fmt.Sprintf(", %s %q, %d files", e.FAT, e.Label, len(e.Files))
		}
		boot = append(boot, keyValue{"EFI image", v})
	}
	var menus []reportMenu
	if ins.Boot.Isolinux != nil {
		menus = append(menus, reportMenu{"isolinux " + IsolinuxConfig, ins.Boot.Isolinux})
	}
	if ins.Boot.Grub != nil {
		menus = append(menus, reportMenu{"GRUB " + GrubConfig, ins.Boot.Grub})
	}
	return boot, menus
}

func makeTile(t tile, key, class, fill, label, sub, title string) reportTile {
	f := func(v float64) string { return fmt.Sprintf("%.2f", v) }
	rt := reportTile{Key: key, Class: class, Fill: fill, Label: label, Title: title,
		X: f(t.X), Y: f(t.Y), W: f(t.W), H: f(t.H), LabelX: f(t.X + 4), LabelY: f(t.Y + 14), SubY: f(t.Y + 27)}
	if t.H >= 34 && t.W >= 8+6*float64(len(sub)) {
		rt.Sub = sub
	}
	// A label where it fits: about 6.5 units a character at the font size the page uses.
	rt.ShowLabel = t.H >= 18 && t.W >= 40
	if n := int((t.W - 8) / 6.5); rt.ShowLabel && len(label) > n {
		rt.Label = label[:max(n-1, 1)] + "…"
	}
	return rt
}

// storeLabel is a store path's name without its hash.
func storeLabel(p string) string {
	b := path.Base(p)
	if _, rest, ok := strings.Cut(b, "-"); ok {
		return rest
	}
	return b
}

func ratioOf(size, cost int64) float64 {
	if cost <= 0 {
		return 0
	}
	return float64(size) / float64(cost)
}

func ratioText(r float64) string {
	if r == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", r)
}

// ratioColour is a compression ratio's colour: red for data stored as it is, through yellow
// and green to blue at 8× and more; grey for a path of no files.
func ratioColour(r float64) string {
	if r <= 0 {
		return "#a9adb5"
	}
	x := min(max(math.Log2(max(r, 1))/3, 0), 1) // 1× → 0, 8× → 1
	return hslHex(8+x*202, 0.62, 0.56)
}

// hslHex is the colour of hue h (degrees), saturation s and lightness l as #rrggbb (which
// html/template lets into a style attribute, unlike hsl()).
func hslHex(h, s, l float64) string {
	c := (1 - math.Abs(2*l-1)) * s
	hp := math.Mod(h, 360) / 60
	x := c * (1 - math.Abs(math.Mod(hp, 2)-1))
	var r, g, b float64
	switch {
	case hp < 1:
		r, g = c, x
	case hp < 2:
		r, g = x, c
	case hp < 3:
		g, b = c, x
	case hp < 4:
		g, b = x, c
	case hp < 5:
		r, b = x, c
	default:
		r, b = c, x
	}
	m := l - c/2
	to := func(v float64) int { return int(math.Round((v + m) * 255)) }
	return fmt.Sprintf("#%02x%02x%02x", to(r), to(g), to(b))
}

func numCell(text string, v int64) cell { return cell{Text: text, Value: fmt.Sprint(v)} }

func sizeText(n int64) string {
	switch {
	case n < 0:
		return "-" + sizeText(-n)
	case n == 0:
		return "0 B"
	}
	return strings.TrimPrefix(signedBytes(n), "+")
}

func percentText(n, total int64) string {
	if total <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(n)/float64(total))
}

func versionOrNone(v string) string {
	if v == "" {
		return "ε"
	}
	return v
}

func sumDeltas(ds []StorePathDelta) int64 {
	var n int64
	for _, d := range ds {
		n += d.Cost.Delta
	}
	return n
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
