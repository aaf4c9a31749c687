package capture

import (
	"bytes"
	"testing"
	"time"

	"gocv.io/x/gocv"
)

// column returns column x of a BGR Mat as bytes.
func column(m *gocv.Mat, x int) []byte {
	var b []byte
	for y := 0; y < m.Rows(); y++ {
		v := m.GetVecbAt(y, x)
		b = append(b, v[0], v[1], v[2])
	}
	return b
}

func TestTransform(t *testing.T) {
	tests := []struct {
		name         string
		tr           Transform
		active       bool
		srcW, srcH   int
		wantW, wantH int
	}{
		{"off", Transform{}, false, 640, 480, 640, 480},
		{"resize 640x480 to 320", Transform{ResizeWidth: 320}, true, 640, 480, 320, 240},
		{"resize 1280x720 to 320", Transform{ResizeWidth: 320}, true, 1280, 720, 320, 180},
		{"resize up", Transform{ResizeWidth: 640}, true, 320, 240, 640, 480},
		{"resize to same width", Transform{ResizeWidth: 640}, true, 640, 480, 640, 480},
		{"mirror", Transform{Mirror: true}, true, 640, 480, 640, 480},
		{"resize and mirror", Transform{ResizeWidth: 320, Mirror: true}, true, 640, 480, 320, 240},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkMats(t)
			if tc.tr.Active() != tc.active {
				t.Fatalf("Active() = %v", !tc.active)
			}
			tp := NewTestPattern(tc.srcW, tc.srcH, false)
			defer tp.Close()
			src, scratch := gocv.NewMat(), gocv.NewMat()
			defer src.Close()
			defer scratch.Close()
			tp.Render(&src, 5, time.Unix(0, 0))
			before := matBytes(t, &src)

			for i := 0; i < 2; i++ { // the second time with scratch already sized
				out := tc.tr.Apply(&src, &scratch)
				if !bytes.Equal(before, matBytes(t, &src)) {
					t.Fatal("Apply modified src")
				}
				if out.Cols() != tc.wantW || out.Rows() != tc.wantH || out.Type() != gocv.MatTypeCV8UC3 {
					t.Fatalf("out %dx%d %v, want %dx%d", out.Cols(), out.Rows(), out.Type(), tc.wantW, tc.wantH)
				}
				if tc.tr.Mirror || (tc.tr.ResizeWidth > 0 && tc.tr.ResizeWidth != tc.srcW) {
					if out != &scratch {
						t.Fatal("result not in scratch")
					}
				} else if out != &src {
					t.Fatal("a no-op transform must return src")
				}
				if !tc.tr.Mirror {
					continue
				}
				// Mirrored: column x of the result is column w-1-x of the
				// unmirrored result.
				ref := gocv.NewMat()
				refOut := Transform{ResizeWidth: tc.tr.ResizeWidth}.Apply(&src, &ref)
				w := out.Cols()
				for _, x := range []int{0, 1, w / 3, w / 2, w - 1} {
					if !bytes.Equal(column(out, x), column(refOut, w-1-x)) {
						ref.Close()
						t.Fatalf("column %d is not the mirror of column %d", x, w-1-x)
					}
				}
				if bytes.Equal(column(out, 0), column(refOut, 0)) {
					t.Error("mirrored and unmirrored first columns are equal: the test picture is symmetric")
				}
				ref.Close()
			}
		})
	}
}
