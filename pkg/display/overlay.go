package display

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"strings"

	"gocv.io/x/gocv"
)

const font = gocv.FontHersheySimplex

var (
	white = color.RGBA{R: 255, G: 255, B: 255}
	amber = color.RGBA{R: 255, G: 196, B: 0}
	green = color.RGBA{R: 96, G: 255, B: 96}
	red   = color.RGBA{R: 255, G: 96, B: 80}
)

// toBGR copies src into dst as 8-bit BGR, the form the overlay is drawn on.
func toBGR(src gocv.Mat, dst *gocv.Mat) {
	switch src.Channels() {
	case 1:
		gocv.CvtColor(src, dst, gocv.ColorGrayToBGR)
	case 4:
		gocv.CvtColor(src, dst, gocv.ColorBGRAToBGR)
	default:
		src.CopyTo(dst)
	}
}

// textScale picks a font scale and thickness legible on a picture of the given height.
func textScale(height int) (float64, int) {
	s := math.Max(0.45, math.Min(1.6, float64(height)/720*0.75))
	return s, max(1, int(math.Round(s*1.6)))
}

// ascii makes s drawable with OpenCV's Hershey fonts, which only have ASCII glyphs.
func ascii(s string) string {
	r := strings.NewReplacer("…", "...", "—", "-", "–", "-", "×", "x", "µ", "u", "°", " deg")
	s = r.Replace(s)
	var b strings.Builder
	for _, c := range s {
		if c < 0x20 || c > 0x7e {
			c = '?'
		}
		b.WriteRune(c)
	}
	return b.String()
}

type textLine struct {
	text string
	c    color.RGBA
}

// darken dims the part of img inside r, clipped to the picture.
func darken(img *gocv.Mat, r image.Rectangle, f float32) {
	r = r.Intersect(image.Rect(0, 0, img.Cols(), img.Rows()))
	if r.Empty() {
		return
	}
	reg := img.Region(r)
	reg.MultiplyFloat(f)
	reg.Close()
}

// drawBlock draws lines of text on a dark box whose top-left corner is at (x, y), or whose bottom-left corner is
// at (x, y) when fromBottom. It returns the box.
func drawBlock(img *gocv.Mat, lines []textLine, x, y int, scale float64, thick int, fromBottom bool) image.Rectangle {
	pad := max(4, int(8*scale))
	gap := max(3, int(6*scale))
	w, h := 0, 0
	sizes := make([]image.Point, len(lines))
	bases := make([]int, len(lines))
	for i, l := range lines {
		sizes[i], bases[i] = gocv.GetTextSizeWithBaseline(l.text, font, scale, thick)
		w = max(w, sizes[i].X)
		h += sizes[i].Y + bases[i]
		if i > 0 {
			h += gap
		}
	}
	box := image.Rect(x, y, x+w+2*pad, y+h+2*pad)
	if fromBottom {
		box = box.Sub(image.Pt(0, box.Dy()))
	}
	darken(img, box, 0.15)
	cy := box.Min.Y + pad
	for i, l := range lines {
		cy += sizes[i].Y
		gocv.PutTextWithParams(img, l.text, image.Pt(box.Min.X+pad, cy), font, scale, l.c, thick, gocv.LineAA, false)
		cy += bases[i] + gap
	}
	return box
}

// fit shortens text with "..." until it is at most w pixels wide at the given scale.
func fit(text string, scale float64, thick, w int) string {
	for len(text) > 8 && gocv.GetTextSize(text, font, scale, thick).X > w {
		text = strings.TrimRight(text[:len(text)-5], " ") + "..."
	}
	return text
}

// drawStats draws the connection figures in the top-left corner. The state line is left out while not live:
// the state is then written large in the middle.
func drawStats(img *gocv.Mat, in Info) {
	scale, thick := textScale(img.Rows())
	scale *= 0.8
	m := max(6, img.Rows()/60)
	maxW := img.Cols() - 2*m - 2*max(4, int(8*scale))
	var lines []textLine
	if in.Live {
		state := in.State
		if state == "" {
			state = "live"
		}
		lines = append(lines, textLine{fit(ascii(state), scale, thick, maxW), green})
	}
	lines = append(lines,
		textLine{fit(fmt.Sprintf("%.1f fps   latency %.0f ms", in.FPS, in.LatencyMs), scale, thick, maxW), white},
		textLine{fit(fmt.Sprintf("%dx%d   dropped %d", in.Width, in.Height, in.Dropped), scale, thick, maxW), white})
	drawBlock(img, lines, m, m, scale, thick, false)
}

// splitState splits a state such as "reconnecting to host:8485... (connection refused)" into its headline and
// the detail in parentheses.
func splitState(s string) (headline, detail string) {
	if i := strings.Index(s, " ("); i > 0 {
		return s[:i], s[i+1:]
	}
	return s, ""
}

// drawState writes the connection state large in the middle of the picture (its detail in parentheses on a
// line of its own), with a smaller note under it.
func drawState(img *gocv.Mat, state, note string) {
	if state == "" {
		state = "not connected"
	}
	headline, detail := splitState(ascii(state))
	W, H := img.Cols(), img.Rows()
	base, _ := textScale(H)
	type line struct {
		text  string
		scale float64
		thick int
		c     color.RGBA
		size  image.Point
		base  int
	}
	mk := func(text string, scale float64, c color.RGBA) line {
		thick := max(1, int(math.Round(scale*1.8)))
		if sz := gocv.GetTextSize(text, font, scale, thick); sz.X > W*9/10 { // shrink to fit the width
			scale *= float64(W*9/10) / float64(sz.X)
			thick = max(1, int(math.Round(scale*1.8)))
			text = fit(text, scale, thick, W*9/10)
		}
		sz, b := gocv.GetTextSizeWithBaseline(text, font, scale, thick)
		return line{text, scale, thick, c, sz, b}
	}
	lines := []line{mk(headline, base*1.6, amber)}
	if detail != "" {
		lines = append(lines, mk(detail, base*0.9, amber))
	}
	if note != "" {
		lines = append(lines, mk(ascii(note), base*0.75, white))
	}
	pad := max(6, int(12*base))
	bw, bh := 0, pad
	for _, l := range lines {
		bw = max(bw, l.size.X)
		bh += l.size.Y + l.base + pad
	}
	bw += 2 * pad
	x, y := (W-bw)/2, (H-bh)/2
	darken(img, image.Rect(x, y, x+bw, y+bh), 0.2)
	cy := y + pad
	for _, l := range lines {
		cy += l.size.Y
		gocv.PutTextWithParams(img, l.text, image.Pt(x+(bw-l.size.X)/2, cy), font, l.scale, l.c, l.thick, gocv.LineAA, false)
		cy += l.base + pad
	}
}

// drawNotice shows a short message (snapshot saved or failed) in the bottom-left corner.
func drawNotice(img *gocv.Mat, msg string) {
	scale, thick := textScale(img.Rows())
	scale *= 0.7
	c := white
	if strings.Contains(msg, "FAILED") {
		c = red
	}
	m := max(6, img.Rows()/60)
	// Keep it on the picture: cut long messages (the log has the whole text).
	text := fit(ascii(msg), scale, thick, img.Cols()-2*m-2*max(4, int(8*scale)))
	drawBlock(img, []textLine{{text, c}}, m, img.Rows()-m, scale, thick, true)
}
