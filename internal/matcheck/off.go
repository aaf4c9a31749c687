//go:build !matprofile

package matcheck

// Enabled reports whether the binary counts Mats (built with -tags matprofile).
const Enabled = false

func count() int   { return 0 }
func dump() string { return "" }
