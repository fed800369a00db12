package closure

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// maxSymlinkHops bounds the symlinks Resolve follows, as the kernel's ELOOP does.
const maxSymlinkHops = 40

// Resolve returns the store path that p is or is inside of: p may be a store path, a path
// inside one, or a symlink (a `result` link) or a chain of them that leads into the store.
// Symlinks are followed only until the path enters storeDir ("" means DefaultStoreDir), so a
// path inside a store path names that store path even when it is itself a symlink to another.
// Errors name p.
func Resolve(p, storeDir string) (string, error) {
	storeDir, err := cleanStoreDir(storeDir)
	if err != nil {
		return "", err
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", fmt.Errorf("closure: %s: %w", p, err)
	}
	// Walk abs component by component, replacing symlinks by their targets, until the path is
	// in the store.
	rest := strings.Split(strings.TrimPrefix(abs, "/"), "/")
	cur := "/"
	for hops := 0; ; {
		if sp, ok := storePathOf(filepath.Join(append([]string{cur}, rest...)...), storeDir); ok {
			if _, err := os.Lstat(sp); err != nil {
				return "", fmt.Errorf("closure: %s: %w", p, err)
			}
			if err := CheckStorePath(sp, storeDir); err != nil {
				return "", fmt.Errorf("closure: %s: %w", p, err)
			}
			return sp, nil
		}
		if len(rest) == 0 {
			return "", fmt.Errorf("closure: %s: not in the store %s (it resolves to %s)", p, storeDir, cur)
		}
		next := filepath.Join(cur, rest[0])
		rest = rest[1:]
		fi, err := os.Lstat(next)
		if err != nil {
			return "", fmt.Errorf("closure: %s: %w", p, err)
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			cur = next
			continue
		}
		if hops++; hops > maxSymlinkHops {
			return "", fmt.Errorf("closure: %s: too many levels of symbolic links", p)
		}
		target, err := os.Readlink(next)
		if err != nil {
			return "", fmt.Errorf("closure: %s: %w", p, err)
		}
		// cur has no symlinks in it, so a relative target's ".." goes up from cur, as the
		// kernel does; an absolute one starts again at the root.
		if filepath.IsAbs(target) {
			cur = "/"
		}
		rest = append(strings.Split(strings.TrimPrefix(target, "/"), "/"), rest...)
	}
}

// storePathOf returns the store path that p is or is inside of, lexically.
func storePathOf(p, storeDir string) (string, bool) {
	rel, ok := strings.CutPrefix(p, storeDir+"/")
	if !ok || rel == "" {
		return "", false
	}
	name, _, _ := strings.Cut(rel, "/")
	return storeDir + "/" + name, true
}

// cleanStoreDir returns storeDir cleaned, or DefaultStoreDir for "".
func cleanStoreDir(storeDir string) (string, error) {
	if storeDir == "" {
		return DefaultStoreDir, nil
	}
	if !filepath.IsAbs(storeDir) {
		return "", fmt.Errorf("closure: store directory %s is not absolute", storeDir)
	}
	storeDir = filepath.Clean(storeDir)
	if storeDir == "/" {
		return "", errors.New("closure: the store directory cannot be /")
	}
	return storeDir, nil
}

// CheckStorePath reports whether p is a well-formed store path in storeDir: storeDir, "/", a
// 32-character Nix32 hash part, "-" and a name of at most 211 letters, digits and "+-._?=" that
// does not start with a dot.
func CheckStorePath(p, storeDir string) error {
	base, ok := strings.CutPrefix(p, storeDir+"/")
	if !ok || strings.Contains(base, "/") {
		return fmt.Errorf("%s is not directly in the store %s", p, storeDir)
	}
	if err := checkBaseName(base); err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	return nil
}

func checkBaseName(base string) error {
	if len(base) < HashPartLen+2 || base[HashPartLen] != hashSepChar {
		return errors.New("not a store path name (want <32-character hash>-<name>)")
	}
	for i := range HashPartLen {
		if nix32Values[base[i]] < 0 {
			return fmt.Errorf("invalid character %q in the hash part", base[i])
		}
	}
	name := base[HashPartLen+1:]
	if len(name) > maxNameLen {
		return fmt.Errorf("name longer than %d characters", maxNameLen)
	}
	if name[0] == '.' {
		return errors.New("name starts with a dot")
	}
	for i := range len(name) {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(nameChars, c) >= 0) {
			return fmt.Errorf("invalid character %q in the name", c)
		}
	}
	return nil
}

// hashPart returns the hash part of a well-formed store path.
func hashPart(storePath string) string {
	base := filepath.Base(storePath)
	return base[:HashPartLen]
}
