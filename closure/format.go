package closure

// The Nix store's names for things, as this package reads and writes them.

// DefaultStoreDir is the store directory of every standard Nix installation.
const DefaultStoreDir = "/nix/store"

// DefaultDBPath is the Nix database of a store in DefaultStoreDir.
const DefaultDBPath = "/nix/var/nix/db/db.sqlite"

// HashPartLen is the length of a store path's hash part. A store path is StoreDir + "/" + hash
// part + "-" + name, the hash part being the Nix32 encoding of a 160-bit digest: that string is
// what Nix, and the native scan, search file contents for to find references.
const HashPartLen = 32

const (
	hashSepChar  = '-'      // between the hash part and the name
	maxNameLen   = 211      // the longest name after the hash part
	nameChars    = "+-._?=" // the name's characters besides ASCII letters and digits
	sha256Prefix = "sha256" // the only NAR hash algorithm Nix uses
)

// Nix32Alphabet is the alphabet of Nix's base-32 encoding: the digits and lowercase letters
// without e, o, u and t. Nix writes the least significant 5 bits last.
const Nix32Alphabet = "0123456789abcdfghijklmnpqrsvwxyz"

// The registration format (closureInfo's `registration`, `nix-store --dump-db`, read by
// `nix-store --load-db`) is, for each path, these lines, each ending in a newline:
//
//	/nix/store/<hash>-<name>        the path
//	sha256:<nix32>                  its NAR hash
//	<decimal>                       its NAR size
//	<deriver>                       the deriver's path, or an empty line
//	<decimal>                       the number of references, N
//	<reference 1> ... <reference N> one per line, sorted; may include the path itself
//
// closureInfo sorts the records by path and leaves the deriver line empty, as WriteRegistration
// does; ReadRegistration takes the records in any order and any hash encoding Nix accepts.
const (
	// maxLineLen bounds a registration line: a store path is at most
	// len(StoreDir) + 1 + HashPartLen + 1 + maxNameLen bytes.
	maxLineLen = 64 << 10
	// maxReferences bounds a registration record's reference count, so a damaged count cannot
	// ask for unbounded work before the input runs out.
	maxReferences = 1 << 24
)
