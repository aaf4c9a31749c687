package viewer

import (
	"time"

	"gocv.io/x/gocv"

	"github.com/camstream/camstream/pkg/capture"
)

func captureFrame(pix *gocv.Mat) capture.Frame {
	return capture.Frame{Captured: time.Now(), Width: pix.Cols(), Height: pix.Rows(), Kind: capture.KindPixels, Mat: pix}
}
