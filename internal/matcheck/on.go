//go:build matprofile

package matcheck

import (
	"bytes"

	"gocv.io/x/gocv"
)

// Enabled reports whether the binary counts Mats (built with -tags matprofile).
const Enabled = true

func count() int { return gocv.MatProfile.Count() }

func dump() string {
	var b bytes.Buffer
	gocv.MatProfile.WriteTo(&b, 1)
	return b.String()
}
