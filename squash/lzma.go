package squash

// lzma (LZMA1 in the .lzma "alone" format, squashfs-tools' lzma_wrapper.c) is named but not
// read: mksquashfs no longer writes it and the Linux kernel never read it.

// compressionLZMA is lzma's compression id.
const compressionLZMA = 2

func init() { register(unsupported{compressionLZMA, "lzma"}) }
