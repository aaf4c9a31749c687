//go:build matprofile

package display

import (
	"bytes"
	"testing"

	"gocv.io/x/gocv"
)

const matProfiled = true

func matCount() int { return gocv.MatProfile.Count() }

func checkMats(t *testing.T, start int) {
	t.Helper()
	if n := gocv.MatProfile.Count(); n != start {
		var b bytes.Buffer
		gocv.MatProfile.WriteTo(&b, 1)
		t.Errorf("%d Mats open, want %d:\n%s", n, start, b.String())
	}
}
