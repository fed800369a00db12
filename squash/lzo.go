package squash

// lzo is named but not read: no Go decoder of it is under a licence gonixiso takes (the one
// there is, a port of the kernel's, is GPL), and NixOS does not use it.

// CompressionLZO is lzo's compression id.
const CompressionLZO = 3

func init() { register(unsupported{CompressionLZO, "lzo"}) }
