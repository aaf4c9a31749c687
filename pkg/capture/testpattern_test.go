package capture

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"gocv.io/x/gocv"
)

var t0 = time.Date(2025, 6, 7, 12, 34, 56, 789_000_000, time.Local)

func matBytes(t testing.TB, m *gocv.Mat) []byte {
	t.Helper()
	b, err := m.DataPtrUint8()
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(b)
}

func TestTestPatternSize(t *testing.T) {
	tests := []struct {
		w, h, wantW, wantH int
		noise              bool
	}{
		{640, 480, 640, 480, false},
		{320, 240, 320, 240, true},
		{1280, 720, 1280, 720, false},
		{1280, 720, 1280, 720, true},
		{161, 97, 161, 97, true}, // odd sizes
		{0, 0, 640, 480, false},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%dx%d noise=%v", tc.w, tc.h, tc.noise), func(t *testing.T) {
			checkMats(t)
			tp := NewTestPattern(tc.w, tc.h, tc.noise)
			defer tp.Close()
			dst := gocv.NewMatWithSize(10, 10, gocv.MatTypeCV8UC1) // wrong size and type: reallocated
			defer dst.Close()
			for n := uint64(0); n < 3; n++ {
				tp.Render(&dst, n, t0)
				if dst.Cols() != tc.wantW || dst.Rows() != tc.wantH || dst.Type() != gocv.MatTypeCV8UC3 {
					t.Fatalf("frame %d: %dx%d %v, want %dx%d CV8UC3", n, dst.Cols(), dst.Rows(), dst.Type(), tc.wantW, tc.wantH)
				}
			}
		})
	}
}

func TestTestPatternDeterministic(t *testing.T) {
	for _, noise := range []bool{false, true} {
		t.Run(fmt.Sprintf("noise=%v", noise), func(t *testing.T) {
			checkMats(t)
			a, b := NewTestPattern(320, 240, noise), NewTestPattern(320, 240, noise)
			defer a.Close()
			defer b.Close()
			m1, m2 := gocv.NewMat(), gocv.NewMat()
			defer m1.Close()
			defer m2.Close()

			render := func(tp *TestPattern, m *gocv.Mat, n uint64, at time.Time) []byte {
				tp.Render(m, n, at)
				return matBytes(t, m)
			}
			f7 := render(a, &m1, 7, t0)
			if !bytes.Equal(f7, render(a, &m2, 7, t0)) {
				t.Fatal("same pattern, same n and t: pixels differ")
			}
			render(a, &m1, 8, t0) // rendering other frames in between changes nothing
			if !bytes.Equal(f7, render(b, &m2, 7, t0)) {
				t.Fatal("another pattern of the same size: frame 7 differs")
			}
			if bytes.Equal(f7, render(a, &m1, 8, t0)) {
				t.Fatal("frames 7 and 8 are identical")
			}
			if bytes.Equal(f7, render(a, &m1, 7, t0.Add(time.Millisecond))) {
				t.Fatal("frame 7 one millisecond later is identical: the clock is not burnt in")
			}
		})
	}
}

// The ball moves: frames a second apart differ outside the text box too.
func TestTestPatternSourceFramesDiffer(t *testing.T) {
	checkMats(t)
	src, err := Open("testpattern", Options{Width: 320, Height: 240, FPS: 15}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if got := src.(NominalRater).NominalFPS(); got != 15 {
		t.Errorf("NominalFPS = %v, want 15", got)
	}
	m := gocv.NewMat()
	defer m.Close()
	var frames [][]byte
	for i := 0; i < 10; i++ {
		k, err := src.Read(&m)
		if err != nil || k != KindPixels {
			t.Fatalf("read %d: %v %v", i, k, err)
		}
		frames = append(frames, matBytes(t, &m))
	}
	// Below the text box: rows 120 and down.
	lower := func(b []byte) []byte { return b[120*320*3:] }
	if bytes.Equal(lower(frames[0]), lower(frames[9])) {
		t.Fatal("the moving element does not move")
	}
	for i := 1; i < len(frames); i++ {
		if bytes.Equal(frames[i-1], frames[i]) {
			t.Fatalf("frames %d and %d are identical", i-1, i)
		}
	}
}

// Rendering 1280x720 must stay well under 5 ms a frame.
func TestTestPatternRenderCost(t *testing.T) {
	if testing.Short() {
		t.Skip("timing")
	}
	for _, noise := range []bool{false, true} {
		t.Run(fmt.Sprintf("noise=%v", noise), func(t *testing.T) {
			checkMats(t)
			tp := NewTestPattern(1280, 720, noise)
			defer tp.Close()
			m := gocv.NewMat()
			defer m.Close()
			tp.Render(&m, 0, t0)
			const n = 50
			start := time.Now()
			for i := uint64(1); i <= n; i++ {
				tp.Render(&m, i, time.Now())
			}
			per := time.Since(start) / n
			t.Logf("1280x720 noise=%v: %v a frame", noise, per)
			if per > 5*time.Millisecond {
				t.Fatalf("%v a frame, want well under 5ms", per)
			}
		})
	}
}

func BenchmarkTestPatternRender(b *testing.B) {
	for _, size := range [][2]int{{640, 480}, {1280, 720}, {1920, 1080}} {
		for _, noise := range []bool{false, true} {
			b.Run(fmt.Sprintf("%dx%d/noise=%v", size[0], size[1], noise), func(b *testing.B) {
				tp := NewTestPattern(size[0], size[1], noise)
				defer tp.Close()
				m := gocv.NewMat()
				defer m.Close()
				var n uint64
				for b.Loop() {
					tp.Render(&m, n, time.Now())
					n++
				}
			})
		}
	}
}

func TestRenderNoSignal(t *testing.T) {
	tests := []struct{ w, h, wantW, wantH int }{
		{640, 480, 640, 480},
		{1280, 720, 1280, 720},
		{160, 120, 160, 120},
		{0, 0, 640, 480},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%dx%d", tc.w, tc.h), func(t *testing.T) {
			checkMats(t)
			dst := gocv.NewMat()
			defer dst.Close()
			long := "URL rtsp://a-very-long-camera-host-name.example.com:554/some/very/long/path/to/stream?x=1 … ünïcode"
			for i := 0; i < 2; i++ { // the second time into a Mat of the right size
				RenderNoSignal(&dst, tc.w, tc.h, long, t0)
				if dst.Cols() != tc.wantW || dst.Rows() != tc.wantH || dst.Type() != gocv.MatTypeCV8UC3 {
					t.Fatalf("%dx%d %v", dst.Cols(), dst.Rows(), dst.Type())
				}
			}
			// Dark grey, with bright text.
			mean := dst.Mean()
			if mean.Val1 < 40 || mean.Val1 > 90 {
				t.Errorf("mean brightness %.1f, want a dark grey card with text", mean.Val1)
			}
			flat := dst.Reshape(1, 0) // a new Mat header: close it
			_, maxVal, _, _ := gocv.MinMaxLoc(flat)
			flat.Close()
			if maxVal < 200 {
				t.Errorf("brightest pixel %v: no text drawn", maxVal)
			}
			// The corner is plain card.
			if v := dst.GetVecbAt(0, 0); v[0] != 40 || v[1] != 40 || v[2] != 40 {
				t.Errorf("corner pixel %v, want 40,40,40", v)
			}
		})
	}
}
