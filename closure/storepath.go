package closure

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

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
