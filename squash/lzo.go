package squash

// lzo is named but not read: no Go decoder of it is under a licence gonixiso takes (the one
// there is, a port of the kernel's, is GPL), and NixOS does not use it.

// compressionLZO is lzo's compression id.
const compressionLZO = 3

func init() { register(unsupported{compressionLZO, "lzo"}) }
