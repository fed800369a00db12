package closure

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// WriteRegistration writes the closure as nixpkgs' closureInfo writes its `registration` file,
// which an image carries as nix-path-registration and `nix-store --load-db` reads on first
// boot: the paths sorted, each with its NAR hash as sha256:<nix32>, its NAR size, an empty
// deriver line and its sorted references.
//
// The deriver line is empty as closureInfo leaves it, whatever the source knew: an image holds
// no derivations, and the registration's bytes then do not depend on which source answered.
func (c *Closure) WriteRegistration(w io.Writer) error {
	paths := slices.Clone(c.Paths)
	slices.SortFunc(paths, func(a, b Path) int { return strings.Compare(a.Path, b.Path) })
	bw := bufio.NewWriter(w)
	for _, p := range paths {
		refs := slices.Clone(p.References)
		slices.Sort(refs)
		refs = slices.Compact(refs)
		bw.WriteString(p.Path)
		bw.WriteByte('\n')
		bw.WriteString(p.NarHash.String())
		bw.WriteByte('\n')
		bw.WriteString(strconv.FormatUint(p.NarSize, 10))
		bw.WriteString("\n\n") // the NAR size's end and the empty deriver line
		bw.WriteString(strconv.Itoa(len(refs)))
		bw.WriteByte('\n')
		for _, r := range refs {
			bw.WriteString(r)
			bw.WriteByte('\n')
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("closure: writing the registration: %w", err)
	}
	return nil
}

// ReadRegistration reads a registration in the format WriteRegistration writes, as
// `nix-store --load-db` reads one: records in any order, a hash in any encoding ParseHash
// takes or a bare SHA-256 digest (`nix-store --dump-db` writes base16), a deriver or an empty
// line, and a last line with or without its newline. It returns
// the records in the order read. Errors give the line number.
func ReadRegistration(r io.Reader) ([]Path, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLineLen)
	line := 0
	next := func(what string) (string, error) {
		if !sc.Scan() {
			if err := sc.Err(); err != nil {
				return "", fmt.Errorf("closure: registration line %d: %w", line+1, err)
			}
			return "", fmt.Errorf("closure: registration line %d: missing %s (input ends early)", line+1, what)
		}
		line++
		return sc.Text(), nil
	}
	var paths []Path
	for {
		if !sc.Scan() {
			if err := sc.Err(); err != nil {
				return nil, fmt.Errorf("closure: registration line %d: %w", line+1, err)
			}
			return paths, nil
		}
		line++
		p := Path{Path: sc.Text()}
		if !strings.HasPrefix(p.Path, "/") {
			return nil, fmt.Errorf("closure: registration line %d: %q is not an absolute store path", line, p.Path)
		}
		s, err := next("NAR hash")
		if err != nil {
			return nil, err
		}
		if p.NarHash, err = parseRegistrationHash(s); err != nil {
			return nil, fmt.Errorf("closure: registration line %d: %s: %w", line, p.Path, err)
		}
		if s, err = next("NAR size"); err != nil {
			return nil, err
		}
		if p.NarSize, err = strconv.ParseUint(s, 10, 64); err != nil {
			return nil, fmt.Errorf("closure: registration line %d: %s: NAR size: %w", line, p.Path, err)
		}
		if p.Deriver, err = next("deriver"); err != nil {
			return nil, err
		}
		if s, err = next("reference count"); err != nil {
			return nil, err
		}
		n, err := strconv.ParseUint(s, 10, 32)
		if err == nil && n > maxReferences {
			err = errors.New("too many")
		}
		if err != nil {
			return nil, fmt.Errorf("closure: registration line %d: %s: reference count %q: %v", line, p.Path, s, err)
		}
		for range n {
			ref, err := next("reference")
			if err != nil {
				return nil, err
			}
			if !strings.HasPrefix(ref, "/") {
				return nil, fmt.Errorf("closure: registration line %d: %s: reference %q is not an absolute store path", line, p.Path, ref)
			}
			p.References = append(p.References, ref)
		}
		paths = append(paths, p)
	}
}

// parseRegistrationHash parses a registration's hash: any form ParseHash takes, or a digest
// without the algorithm, which Nix then takes to be SHA-256.
func parseRegistrationHash(s string) (Hash, error) {
	if strings.HasPrefix(s, sha256Prefix+":") || strings.HasPrefix(s, sha256Prefix+"-") || strings.ContainsAny(s, ":-") {
		return ParseHash(s)
	}
	var h Hash
	b, err := decodeDigest(s, false)
	if err != nil {
		return h, fmt.Errorf("hash %q: %w", s, err)
	}
	copy(h[:], b)
	return h, nil
}
