package capture

import (
	"fmt"
	"image"
	"image/color"
	"math/rand/v2"
	"strings"
	"time"

	"gocv.io/x/gocv"
)

// Default size of the test pattern and of the NO SIGNAL card.
const (
	defaultWidth  = 640
	defaultHeight = 480
)

// noiseFrames is how many precomputed noise images the test pattern cycles
// through: enough that consecutive frames differ like a sensor's, few
// enough to stay small (4 x 2.7 MB at 1280x720).
const noiseFrames = 4

// noiseBias is added to every noise sample so that it fits in a uint8; it is
// taken off again when the noise is added (AddWeighted's gamma).
const noiseBias = 16

// TestPattern renders a synthetic camera picture: colour bars over a grey
// ramp, a ball that moves with the frame number, the frame number and the
// clock burnt in, and optionally sensor-like noise. Frame n at time t is
// always the same picture (the noise comes from a fixed seed).
//
// A TestPattern owns Mats: Close it. It is not safe for concurrent use.
type TestPattern struct {
	w, h   int
	bg     gocv.Mat   // the static background, made once
	noise  []gocv.Mat // biased noise images (empty without noise)
	scale  float64    // font scale for this size
	thick  int        // text stroke width
	closed bool
}

// NewTestPattern makes a w x h pattern (640x480 when either is <= 0).
// With noise it precomputes a few noise images, which takes some tens of
// milliseconds at 1280x720.
func NewTestPattern(w, h int, noise bool) *TestPattern {
	if w <= 0 || h <= 0 {
		w, h = defaultWidth, defaultHeight
	}
	tp := &TestPattern{w: w, h: h}
	tp.scale = float64(h) / 480
	tp.thick = max(1, int(2*tp.scale+0.5))
	tp.bg = makeBackground(w, h)
	if noise {
		rng := rand.New(rand.NewPCG(0x6361_6d73, 0x7472_6561)) // fixed seed: reproducible frames
		for range noiseFrames {
			tp.noise = append(tp.noise, makeNoise(w, h, rng))
		}
	}
	return tp
}

// Size returns the pattern's width and height.
func (tp *TestPattern) Size() (w, h int) { return tp.w, tp.h }

// Close frees the pattern's Mats. It is safe to call more than once.
func (tp *TestPattern) Close() error {
	if tp.closed {
		return nil
	}
	tp.closed = true
	tp.bg.Close()
	for i := range tp.noise {
		tp.noise[i].Close()
	}
	tp.noise = nil
	return nil
}

// bars are the 75% colour bars, BGR, left to right: white, yellow, cyan,
// green, magenta, red, blue.
var bars = [7][3]uint8{
	{191, 191, 191}, {0, 191, 191}, {191, 191, 0}, {0, 191, 0},
	{191, 0, 191}, {0, 0, 191}, {191, 0, 0},
}

// makeBackground draws the static part once: colour bars on the top two
// thirds, a black-to-white ramp below.
func makeBackground(w, h int) gocv.Mat {
	pix := make([]byte, w*h*3)
	barsBottom := h * 2 / 3
	for y := 0; y < h; y++ {
		row := pix[y*w*3 : (y+1)*w*3]
		for x := 0; x < w; x++ {
			var c [3]uint8
			if y < barsBottom {
				c = bars[x*len(bars)/w]
			} else {
				v := uint8(x * 255 / max(1, w-1))
				c = [3]uint8{v, v, v}
			}
			copy(row[x*3:], c[:])
		}
	}
	return matFromBGR(w, h, pix)
}

// makeNoise returns a w x h BGR image of biased noise: samples of about
// +-14 around noiseBias, roughly Gaussian (sum of four uniforms, sigma about
// 4.6 levels, like a webcam's sensor noise in daylight).
func makeNoise(w, h int, rng *rand.Rand) gocv.Mat {
	pix := make([]byte, w*h*3)
	for i := 0; i < len(pix); {
		r := rng.Uint64()
		for k := 0; k < 5 && i < len(pix); k++ { // 5 samples of 12 bits per draw
			v := int(r&7) + int(r>>3&7) - int(r>>6&7) - int(r>>9&7)
			pix[i] = uint8(noiseBias + v)
			r >>= 12
			i++
		}
	}
	return matFromBGR(w, h, pix)
}

// matFromBGR copies pix into a new C-allocated Mat (NewMatFromBytes would
// keep pointing at Go memory).
func matFromBGR(w, h int, pix []byte) gocv.Mat {
	m := gocv.NewMatWithSize(h, w, gocv.MatTypeCV8UC3)
	data, err := m.DataPtrUint8()
	if err != nil { // a freshly allocated Mat is always continuous
		panic("capture: new Mat not continuous: " + err.Error())
	}
	copy(data, pix)
	return m
}

// Render draws frame n at clock time t into dst (owned by the caller; it is
// reallocated only if its size or type differs). Same n and t, same pixels.
func (tp *TestPattern) Render(dst *gocv.Mat, n uint64, t time.Time) {
	tp.bg.CopyTo(dst)
	w, h := tp.w, tp.h

	// A ball bouncing left-right across the bars, one step per frame.
	r := max(4, h/12)
	step := max(2, w/160)
	span := w - 2*r
	pos := int((n * uint64(step)) % uint64(2*span))
	if pos > span {
		pos = 2*span - pos
	}
	center := image.Pt(r+pos, h/3+r)
	gocv.Circle(dst, center, r, color.RGBA{R: 255, G: 140, A: 255}, -1)
	gocv.Circle(dst, center, r, color.RGBA{A: 255}, max(1, tp.thick/2))

	// Frame number and clock on a black box in the top-left corner.
	frameText := fmt.Sprintf("#%08d", n)
	clockText := t.Format("15:04:05.000")
	big := 1.2 * tp.scale
	lineH := int(40 * tp.scale)
	pad := int(8 * tp.scale)
	sz := gocv.GetTextSize(clockText, gocv.FontHersheySimplex, big, tp.thick)
	if fsz := gocv.GetTextSize(frameText, gocv.FontHersheySimplex, big, tp.thick); fsz.X > sz.X {
		sz = fsz
	}
	gocv.Rectangle(dst, image.Rect(0, 0, sz.X+2*pad, 2*lineH+2*pad), color.RGBA{A: 255}, -1)
	white := color.RGBA{R: 255, G: 255, B: 255, A: 255}
	gocv.PutText(dst, frameText, image.Pt(pad, pad+lineH-pad/2), gocv.FontHersheySimplex, big, white, tp.thick)
	gocv.PutText(dst, clockText, image.Pt(pad, pad+2*lineH-pad/2), gocv.FontHersheySimplex, big, white, tp.thick)

	if len(tp.noise) > 0 {
		// dst = saturate(dst + noise - bias): one pass, zero-mean noise.
		gocv.AddWeighted(*dst, 1, tp.noise[n%uint64(len(tp.noise))], 1, -noiseBias, dst)
	}
}

// patternSource is the Source behind Open("testpattern"): its own frame
// counter, the wall clock, and a nominal rate for the Supervisor's pacing.
type patternSource struct {
	tp  *TestPattern
	n   uint64
	fps float64
}

func newPatternSource(opt Options) *patternSource {
	fps := opt.FPS
	if fps <= 0 {
		fps = defaultNominalFPS
	}
	return &patternSource{tp: NewTestPattern(opt.Width, opt.Height, opt.Noise), fps: fps}
}

func (s *patternSource) Read(dst *gocv.Mat) (Kind, error) {
	if s.tp == nil {
		return KindPixels, errorf(ErrRead, "test pattern", "source is closed")
	}
	s.tp.Render(dst, s.n, time.Now())
	s.n++
	return KindPixels, nil
}

func (s *patternSource) Close() error {
	if s.tp != nil {
		s.tp.Close()
		s.tp = nil
	}
	return nil
}

func (s *patternSource) String() string      { return "test pattern" }
func (s *patternSource) NominalFPS() float64 { return s.fps }

// RenderNoSignal draws the NO SIGNAL card into dst (owned by the caller;
// reallocated only if its size differs): a dark grey w x h card (640x480
// when either is <= 0) with a big "NO SIGNAL", the source description (see
// Describe; non-ASCII characters become '?', Hershey fonts have no others)
// and the time.
func RenderNoSignal(dst *gocv.Mat, w, h int, source string, t time.Time) {
	if w <= 0 || h <= 0 {
		w, h = defaultWidth, defaultHeight
	}
	grey := gocv.NewScalar(40, 40, 40, 0)
	if dst.Rows() != h || dst.Cols() != w || dst.Type() != gocv.MatTypeCV8UC3 {
		tmp := gocv.NewMatWithSizeFromScalar(grey, h, w, gocv.MatTypeCV8UC3)
		tmp.CopyTo(dst)
		tmp.Close()
	} else {
		dst.SetTo(grey)
	}

	white := color.RGBA{R: 230, G: 230, B: 230, A: 255}
	dim := color.RGBA{R: 160, G: 160, B: 160, A: 255}
	// "NO SIGNAL" fills about 70% of the width.
	title := "NO SIGNAL"
	base := gocv.GetTextSize(title, gocv.FontHersheyDuplex, 1, 2)
	scale := 0.7 * float64(w) / float64(max(1, base.X))
	thick := max(1, int(scale*2+0.5))
	putCentered(dst, title, h/2, gocv.FontHersheyDuplex, scale, white, thick, w)

	small := max(0.4, float64(h)/720)
	sthick := max(1, int(small*1.5+0.5))
	putCentered(dst, fitText(asciiOnly(source), gocv.FontHersheySimplex, small, sthick, w*9/10), h/2+int(60*small)+int(20*scale),
		gocv.FontHersheySimplex, small, dim, sthick, w)
	putCentered(dst, t.Format("2006-01-02 15:04:05"), h/2+int(110*small)+int(20*scale),
		gocv.FontHersheySimplex, small, dim, sthick, w)
}

// putCentered draws text centred horizontally on a w-wide image, with its
// baseline at y.
func putCentered(dst *gocv.Mat, text string, y int, font gocv.HersheyFont, scale float64, c color.RGBA, thick, w int) {
	sz := gocv.GetTextSize(text, font, scale, thick)
	gocv.PutText(dst, text, image.Pt((w-sz.X)/2, y), font, scale, c, thick)
}

// fitText shortens text with "..." until it is at most maxW pixels wide.
func fitText(text string, font gocv.HersheyFont, scale float64, thick, maxW int) string {
	for len(text) > 4 && gocv.GetTextSize(text, font, scale, thick).X > maxW {
		text = strings.TrimSuffix(text, "...")
		text = text[:len(text)-1] + "..."
	}
	return text
}

func asciiOnly(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7E {
			return '?'
		}
		return r
	}, s)
}
