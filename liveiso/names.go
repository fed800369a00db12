package liveiso

import (
	"cmp"
	"github.com/gonixiso/gonixiso/closure"
	"slices"
	"strconv"
	"strings"
)

// This file orders versions of the store paths two images do not share, which diff pairs by
// package name (closure.ParseName), as `nix store diff-closures` does.

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// compareVersions orders versions as nix's compareVersions does: component by component (runs
// of digits, or of other characters, between dots and dashes), numbers by value, "pre" before
// anything, a missing component before a number, letters before numbers ("2.3a" < "2.3.1").
func compareVersions(a, b string) int {
	for a != "" || b != "" {
		var ca, cb string
		ca, a = nextComponent(a)
		cb, b = nextComponent(b)
		if componentLess(ca, cb) {
			return -1
		}
		if componentLess(cb, ca) {
			return 1
		}
	}
	return 0
}

// nextComponent returns the next component of a version and what follows it.
func nextComponent(s string) (string, string) {
	for s != "" && (s[0] == '.' || s[0] == '-') {
		s = s[1:]
	}
	if s == "" {
		return "", ""
	}
	i := 1
	if isDigit(s[0]) {
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	} else {
		for i < len(s) && !isDigit(s[i]) && s[i] != '.' && s[i] != '-' {
			i++
		}
	}
	return s[:i], s[i:]
}

func componentLess(a, b string) bool {
	na, errA := strconv.Atoi(a)
	nb, errB := strconv.Atoi(b)
	switch {
	case errA == nil && errB == nil:
		return na < nb
	case a == "" && errB == nil:
		return true
	case a == "pre" && b != "pre":
		return true
	case b == "pre":
		return false
	case errB == nil:
		return true
	case errA == nil:
		return false
	}
	return a < b
}

// pathPair is a store path of A and one of B (base names) that are one package: "" on the side
// that lacks it.
type pathPair struct{ a, b string }

// pairStorePaths pairs the store paths only A has with those only B has, by package name and
// output: same versions first (a new hash only), then the others in version order. The rest
// stay unpaired. Pairs come in the order of B's names (A's for removed paths), sorted.
func pairStorePaths(onlyA, onlyB []string) []pathPair {
	group := func(names []string) map[string][]string {
		g := map[string][]string{}
		for _, n := range names {
			k := closure.ParseName(n).Key()
			g[k] = append(g[k], n)
		}
		return g
	}
	ga, gb := group(onlyA), group(onlyB)
	var pairs []pathPair
	for k, as := range ga {
		bs := gb[k]
		// Same versions: a new hash only.
		var restA []string
		for _, a := range slices.Sorted(slices.Values(as)) {
			v := closure.ParseName(a).Version
			i := slices.IndexFunc(bs, func(b string) bool { return closure.ParseName(b).Version == v })
			if i < 0 {
				restA = append(restA, a)
				continue
			}
			pairs = append(pairs, pathPair{a, bs[i]})
			bs = slices.Delete(slices.Clone(bs), i, i+1)
		}
		byVersion := func(x, y string) int {
			return cmp.Or(compareVersions(closure.ParseName(x).Version, closure.ParseName(y).Version), strings.Compare(x, y))
		}
		slices.SortFunc(restA, byVersion)
		bs = slices.Clone(bs)
		slices.SortFunc(bs, byVersion)
		n := min(len(restA), len(bs))
		for i := range n {
			pairs = append(pairs, pathPair{restA[i], bs[i]})
		}
		for _, a := range restA[n:] {
			pairs = append(pairs, pathPair{a: a})
		}
		gb[k] = bs[n:]
	}
	for _, bs := range gb {
		for _, b := range bs {
			pairs = append(pairs, pathPair{b: b})
		}
	}
	slices.SortFunc(pairs, func(x, y pathPair) int {
		return strings.Compare(cmp.Or(x.b, x.a), cmp.Or(y.b, y.a))
	})
	return pairs
}
