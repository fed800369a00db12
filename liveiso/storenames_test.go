package liveiso

import (
	"slices"
	"testing"
)

func TestCompareVersions(t *testing.T) {
	// In increasing order, as nix-env orders them.
	order := []string{"1.0pre1", "1.0", "1.0a", "1.0b", "1.0.1", "1.1", "1.2", "1.10", "2.3a", "2.3.1", "10"}
	for i := range order {
		for j := range order {
			got := compareVersions(order[i], order[j])
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got != want {
				t.Errorf("compareVersions(%q, %q) = %d, want %d", order[i], order[j], got, want)
			}
		}
	}
}

func TestPairStorePaths(t *testing.T) {
	onlyA := []string{"h1-hello-2.12", "h2-openssh-server-9.2p1-2", "h3-glibc-2.39-dev", "h4-glibc-2.39", "h5-gone-1.0",
		"h6-etc", "h7-lib-1.0", "h8-lib-2.0"}
	onlyB := []string{"k1-hello-2.12.1", "k2-openssh-server-9.2p1-2-edit1", "k3-glibc-2.40-dev", "k4-glibc-2.40", "k5-new-0.1",
		"k6-etc", "k7-lib-2.1", "k8-lib-1.1", "k9-lib-3.0"}
	want := []pathPair{
		{"h1-hello-2.12", "k1-hello-2.12.1"},
		{"h2-openssh-server-9.2p1-2", "k2-openssh-server-9.2p1-2-edit1"},
		{"h3-glibc-2.39-dev", "k3-glibc-2.40-dev"},
		{"h4-glibc-2.39", "k4-glibc-2.40"},
		{b: "k5-new-0.1"},
		{"h6-etc", "k6-etc"},
		{"h8-lib-2.0", "k7-lib-2.1"},
		{"h7-lib-1.0", "k8-lib-1.1"},
		{b: "k9-lib-3.0"},
		{a: "h5-gone-1.0"},
	}
	got := pairStorePaths(onlyA, onlyB)
	slices.SortFunc(want, func(x, y pathPair) int { return cmpPair(x, y) })
	if !slices.Equal(got, want) {
		t.Errorf("pairStorePaths:\n got  %v\n want %v", got, want)
	}
}

func cmpPair(x, y pathPair) int {
	kx, ky := x.b, y.b
	if kx == "" {
		kx = x.a
	}
	if ky == "" {
		ky = y.a
	}
	switch {
	case kx < ky:
		return -1
	case kx > ky:
		return 1
	}
	return 0
}
