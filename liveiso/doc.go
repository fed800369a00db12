// Package liveiso reads a NixOS live ISO as a whole: the ISO 9660 volume with its boot records
// and menus, the EFI system partition, and the SquashFS of the store with its registration. It
// is what `gonixiso inspect`, `diff` and `manifest` print, for images that gonixiso made and for
// those that nixpkgs' tools (xorriso and mksquashfs) or others made.
//
//   - Inspect describes an image: descriptors, El Torito, MBR and GPT, menus, the EFI image, the
//     SquashFS and every store path with its sizes, its cost in the SquashFS (CostInfo) and its
//     registration.
//   - Diff compares two images top down, to the file and byte, reading metadata, block lists
//     and compressed bytes before it decodes anything, and says how their sizes differ and
//     why (SizeDeltas), pairing store paths of one package by name.
//   - WriteInspectionHTML and WriteDiffHTML write their reports as one self-contained page.
//   - Manifest lists every file of the ISO tree and of the store, with its mode, size and hash.
//
// Images are untrusted input: every reader below bounds the memory and time a crafted image
// can cost, and errors name the image and the path inside it.
//
// liveiso knows the formats only through their packages' readers (iso9660, squash, boot/fat);
// it knows nothing of how an image is assembled, and the assembly pipeline does not import it.
package liveiso
