package capture

import (
	"image"

	"gocv.io/x/gocv"
)

// Transform is the seed's per-frame processing: resize to a width, mirror.
// The zero value does nothing.
type Transform struct {
	// ResizeWidth scales frames to this width keeping the aspect ratio;
	// 0 leaves the size alone.
	ResizeWidth int
	// Mirror flips frames horizontally (a webcam shown like a mirror).
	Mirror bool
}

// Active reports whether the transform changes pixels, which rules out
// passing the source's JPEG through.
func (t Transform) Active() bool { return t.ResizeWidth > 0 || t.Mirror }

// Size returns the size a w x h frame has after the transform.
func (t Transform) Size(w, h int) (int, int) {
	if t.ResizeWidth <= 0 || t.ResizeWidth == w || w <= 0 {
		return w, h
	}
	nh := (h*t.ResizeWidth + w/2) / w // rounded
	return t.ResizeWidth, max(1, nh)
}

// Apply transforms src and returns the Mat holding the result, without
// allocating once scratch has the output size:
//   - inactive (or nothing to do): src itself, untouched;
//   - otherwise: scratch, which Apply (re)fills; src is never modified.
//
// The caller owns src and scratch (and so the result, which is one of them)
// and must not pass the same Mat as both.
func (t Transform) Apply(src *gocv.Mat, scratch *gocv.Mat) *gocv.Mat {
	out := src
	if w, h := t.Size(src.Cols(), src.Rows()); w != src.Cols() || h != src.Rows() {
		interp := gocv.InterpolationArea // best for shrinking
		if w > src.Cols() {
			interp = gocv.InterpolationLinear
		}
		gocv.Resize(*src, scratch, image.Pt(w, h), 0, 0, interp)
		out = scratch
	}
	if t.Mirror {
		// cv::flip works in place, so resize-then-mirror needs no second scratch.
		gocv.Flip(*out, scratch, 1)
		out = scratch
	}
	return out
}
