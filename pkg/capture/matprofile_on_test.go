//go:build matprofile

package capture

import (
	"bytes"

	"gocv.io/x/gocv"
)

const matProfileOn = true

func matCount() int { return gocv.MatProfile.Count() }

func matProfileDump() string {
	var b bytes.Buffer
	gocv.MatProfile.WriteTo(&b, 1)
	return b.String()
}
