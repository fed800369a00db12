// Package nar writes Nix Archives (NAR), the serialisation Nix hashes to get a store path's
// NAR hash and NAR size.
//
// A NAR is a sequence of strings. Each string is its length as a 64-bit little-endian integer,
// then its bytes, then zero bytes up to a multiple of eight. The grammar, in those strings:
//
//	nar       = "nix-archive-1" node
//	node      = "(" "type" ( regular | symlink | directory ) ")"
//	regular   = "regular" [ "executable" "" ] "contents" <contents>
//	symlink   = "symlink" "target" <target>
//	directory = "directory" { "entry" "(" "name" <name> "node" node ")" }
//
// Directory entries are sorted by name, bytewise, and names are unique. Nothing else is
// recorded: no times, no owners, no permissions but the executable bit.
package nar

// Magic is the string every NAR starts with.
const Magic = "nix-archive-1"

// The strings that frame a NAR's nodes.
const (
	tokenOpen       = "("
	tokenClose      = ")"
	tokenType       = "type"
	tokenRegular    = "regular"
	tokenSymlink    = "symlink"
	tokenDirectory  = "directory"
	tokenExecutable = "executable"
	tokenContents   = "contents"
	tokenTarget     = "target"
	tokenEntry      = "entry"
	tokenName       = "name"
	tokenNode       = "node"
)

// lengthSize is the size of a string's length prefix, a uint64 in little-endian order.
const lengthSize = 8

// alignment is the multiple every string's bytes are padded to with zero bytes.
const alignment = 8

// padding returns the number of zero bytes that follow a string of n bytes.
func padding(n uint64) uint64 {
	return (alignment - n%alignment) % alignment
}

// Type is the type of a NAR node.
type Type uint8

const (
	TypeRegular   Type = iota + 1 // a regular file, executable or not
	TypeDirectory                 // a directory
	TypeSymlink                   // a symbolic link; its target is stored as is
)

func (t Type) String() string {
	switch t {
	case TypeRegular:
		return tokenRegular
	case TypeDirectory:
		return tokenDirectory
	case TypeSymlink:
		return tokenSymlink
	}
	return "invalid"
}

// Header describes one node of a NAR.
type Header struct {
	// Path is the node's place in the archive: "/" for the root, "/a/b" for the entry b of the
	// directory entry a of the root.
	Path string
	Type Type
	// LinkTarget is a symlink's target, stored as is.
	LinkTarget string
	// Size is a regular file's length; exactly that many bytes must be written after the header.
	Size uint64
	// Executable marks a regular file executable.
	Executable bool
}
