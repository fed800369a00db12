package closure

import "strings"

// A Name is a store path's name split as Nix splits it (nix's DrvName, and the output names
// `nix store diff-closures` sets apart): the hash is dropped; an output name ("dev", "bin",
// "lib32", ...: a last dash-separated part of lower-case letters) is set apart; the rest splits
// into the name, up to the first dash not followed by a letter, and the version after it. So
// `openssh-server-9.2p1-2` and `openssh-server-9.2p1-2-edit1`, or `hello-2.12` and
// `hello-2.12.1`, are one package in two versions. Like Nix, this cannot tell an output name
// from a version suffix of letters ("-unstable").
type Name struct {
	Name, Version, Output string
}

// ParseName splits a store path's base name ("<hash>-<name>").
func ParseName(base string) Name {
	s := base
	if _, rest, ok := strings.Cut(base, "-"); ok {
		s = rest
	}
	var p Name
	// nix: std::regex_match(name, "(.*)-([a-z]+|lib32|lib64)").
	if i := strings.LastIndexByte(s, '-'); i >= 0 {
		if suf := s[i+1:]; suf == "lib32" || suf == "lib64" || lowerLetters(suf) {
			p.Output, s = suf, s[:i]
		}
	}
	// nix: DrvName, the name up to the first dash not followed by a letter.
	p.Name = s
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '-' && !isLetter(s[i+1]) {
			p.Name, p.Version = s[:i], s[i+1:]
			break
		}
	}
	return p
}

// Key is what pairs two store paths as versions of one package: the name and the output.
func (p Name) Key() string { return p.Name + "\x00" + p.Output }

// String is the name with its output, as a store path shows it: "openssh", "glibc-dev".
func (p Name) String() string {
	if p.Output == "" {
		return p.Name
	}
	return p.Name + "-" + p.Output
}

func lowerLetters(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 'a' || s[i] > 'z' {
			return false
		}
	}
	return s != ""
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
