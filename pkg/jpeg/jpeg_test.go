package jpeg

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	stdjpeg "image/jpeg"
	"testing"
)

// makeJPEG encodes a w x h gradient with the standard library's encoder,
// which writes baseline JPEGs with the Annex K tables.
func makeJPEG(t testing.TB, w, h int, gray bool) []byte {
	t.Helper()
	var img image.Image
	if gray {
		g := image.NewGray(image.Rect(0, 0, w, h))
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				g.SetGray(x, y, color.Gray{Y: uint8((x*7 + y*3) % 256)})
			}
		}
		img = g
	} else {
		c := image.NewRGBA(image.Rect(0, 0, w, h))
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				c.SetRGBA(x, y, color.RGBA{R: uint8(x * 255 / w), G: uint8(y * 255 / h), B: uint8((x ^ y) % 256), A: 255})
			}
		}
		img = c
	}
	var buf bytes.Buffer
	if err := stdjpeg.Encode(&buf, img, &stdjpeg.Options{Quality: 80}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// segment is one marker segment found by the test's own, independent walker.
type segment struct {
	marker     byte
	start, end int // [start, end) covers FF, marker, length and payload
}

// segments lists the marker segments before the first SOS (SOS included).
func segments(t testing.TB, b []byte) []segment {
	t.Helper()
	var segs []segment
	pos := 2
	for pos+4 <= len(b) {
		if b[pos] != 0xFF {
			t.Fatalf("test walker: no marker at %d", pos)
		}
		m := b[pos+1]
		n := int(b[pos+2])<<8 | int(b[pos+3])
		segs = append(segs, segment{m, pos, pos + 2 + n})
		if m == markerSOS {
			return segs
		}
		pos += 2 + n
	}
	t.Fatal("test walker: no SOS")
	return nil
}

func findSegment(t testing.TB, b []byte, marker byte) segment {
	t.Helper()
	for _, s := range segments(t, b) {
		if s.marker == marker {
			return s
		}
	}
	t.Fatalf("no segment %#02x", marker)
	return segment{}
}

// stripDHT returns a copy of b without its DHT segments, like the frames of
// MJPG webcams that rely on the standard tables.
func stripDHT(t testing.TB, b []byte) []byte {
	t.Helper()
	var out []byte
	prev := 0
	for _, s := range segments(t, b) {
		if s.marker == markerDHT {
			out = append(out, b[prev:s.start]...)
			prev = s.end
		}
	}
	return append(out, b[prev:]...)
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }

func decodePixels(t testing.TB, b []byte) image.Image {
	t.Helper()
	img, err := stdjpeg.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("image/jpeg cannot decode: %v", err)
	}
	return img
}

func samePixels(a, b image.Image) bool {
	if a.Bounds() != b.Bounds() {
		return false
	}
	r := a.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if a.At(x, y) != b.At(x, y) {
				return false
			}
		}
	}
	return true
}

func TestInspect(t *testing.T) {
	color320 := makeJPEG(t, 320, 240, false)
	gray := makeJPEG(t, 17, 9, true)
	stripped := stripDHT(t, color320)
	sof := findSegment(t, color320, markerSOF0)
	dqt := findSegment(t, color320, 0xDB)

	// mutate returns a copy of color320 changed by f.
	mutate := func(f func(b []byte) []byte) []byte { return f(clone(color320)) }

	tests := []struct {
		name    string
		in      []byte
		want    Info
		wantN   int
		wantErr error
	}{
		{name: "colour 320x240", in: color320, want: Info{Width: 320, Height: 240, HasHuffman: true, Components: 3}, wantN: len(color320)},
		{name: "grey 17x9", in: gray, want: Info{Width: 17, Height: 9, HasHuffman: true, Components: 1}, wantN: len(gray)},
		{name: "zero padding after EOI", in: append(clone(color320), make([]byte, 1000)...), want: Info{Width: 320, Height: 240, HasHuffman: true, Components: 3}, wantN: len(color320)},
		{name: "no DHT", in: stripped, want: Info{Width: 320, Height: 240, Components: 3}, wantN: len(stripped)},
		{name: "progressive header", in: mutate(func(b []byte) []byte { b[sof.start+1] = markerSOF2; return b }),
			want: Info{Width: 320, Height: 240, HasHuffman: true, Progressive: true, Components: 3}, wantN: len(color320)},
		{name: "fill bytes before a marker", in: append(append([]byte{0xFF, 0xD8, 0xFF, 0xFF, 0xFF}, color320[3:sof.start]...), color320[sof.start:]...),
			want: Info{Width: 320, Height: 240, HasHuffman: true, Components: 3}, wantN: len(color320) + 2},

		{name: "nil", in: nil, wantErr: ErrNotJPEG},
		{name: "empty", in: []byte{}, wantErr: ErrNotJPEG},
		{name: "one FF byte", in: []byte{0xFF}, wantErr: ErrTruncated},
		{name: "PNG", in: []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), wantErr: ErrNotJPEG},
		{name: "SOI only", in: []byte{0xFF, 0xD8}, wantErr: ErrTruncated},
		{name: "SOI EOI", in: []byte{0xFF, 0xD8, 0xFF, 0xD9}, wantErr: ErrTruncated},
		{name: "cut in the header", in: color320[:sof.start+5], wantErr: ErrTruncated},
		{name: "cut in the scan", in: color320[:len(color320)/2], wantErr: ErrTruncated},
		{name: "last byte missing", in: color320[:len(color320)-1], wantErr: ErrTruncated},
		{name: "garbage after EOI", in: append(clone(color320), 0x12, 0x34), wantErr: ErrTruncated},
		{name: "all padding", in: append([]byte{0xFF, 0xD8}, make([]byte, 64)...), wantErr: ErrTruncated},
		{name: "segment longer than the data", in: mutate(func(b []byte) []byte { b[dqt.start+2], b[dqt.start+3] = 0xFF, 0xF0; return b }), wantErr: ErrTruncated},
		{name: "segment length 1", in: mutate(func(b []byte) []byte { b[dqt.start+2], b[dqt.start+3] = 0, 1; return b }), wantErr: ErrBadSegment},
		{name: "no marker where one must be", in: mutate(func(b []byte) []byte { b[dqt.start] = 0x00; return b }), wantErr: ErrBadMarker},
		{name: "second SOI", in: mutate(func(b []byte) []byte { b[dqt.start+1] = markerSOI; return b }), wantErr: ErrBadMarker},
		{name: "restart marker before scan", in: mutate(func(b []byte) []byte { b[dqt.start+1] = 0xD3; return b }), wantErr: ErrBadMarker},
		{name: "no SOF", in: mutate(func(b []byte) []byte { return append(b[:sof.start], b[sof.end:]...) }), wantErr: ErrNoFrameHeader},
		{name: "two SOF", in: mutate(func(b []byte) []byte {
			return append(append(b[:sof.end:sof.end], color320[sof.start:sof.end]...), color320[sof.end:]...)
		}), wantErr: ErrBadFrameHeader},
		{name: "zero width", in: mutate(func(b []byte) []byte { b[sof.start+7], b[sof.start+8] = 0, 0; return b }), wantErr: ErrBadFrameHeader},
		{name: "zero height", in: mutate(func(b []byte) []byte { b[sof.start+5], b[sof.start+6] = 0, 0; return b }), wantErr: ErrBadFrameHeader},
		{name: "baseline 12-bit", in: mutate(func(b []byte) []byte { b[sof.start+4] = 12; return b }), wantErr: ErrBadFrameHeader},
		{name: "two components", in: mutate(func(b []byte) []byte { b[sof.start+9] = 2; return b }), wantErr: ErrBadFrameHeader},
		{name: "lossless SOF3", in: mutate(func(b []byte) []byte { b[sof.start+1] = 0xC3; return b }), wantErr: ErrUnsupported},
		{name: "arithmetic SOF9", in: mutate(func(b []byte) []byte { b[sof.start+1] = 0xC9; return b }), wantErr: ErrUnsupported},
		{name: "DHT with bad class", in: mutate(func(b []byte) []byte { d := findSegment(t, b, markerDHT); b[d.start+4] = 0x27; return b }), wantErr: ErrBadSegment},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := clone(tc.in)
			info, n, err := Inspect(tc.in)
			if !bytes.Equal(before, tc.in) {
				t.Fatal("Inspect modified its input")
			}
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				if info != (Info{}) || n != 0 {
					t.Fatalf("on error got %+v, %d; want zero values", info, n)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if info != tc.want || n != tc.wantN {
				t.Fatalf("got %+v, n=%d; want %+v, n=%d", info, n, tc.want, tc.wantN)
			}
		})
	}
}

func TestStandardDHT(t *testing.T) {
	// The segment mjpg-streamer inserts is 420 bytes: marker plus length 0x01A2.
	if len(standardDHT) != 420 || standardDHT[2] != 0x01 || standardDHT[3] != 0xA2 {
		t.Fatalf("standard DHT segment is %d bytes, length field %x", len(standardDHT), standardDHT[2:4])
	}
	if err := checkDHT(standardDHT[4:]); err != nil {
		t.Fatal(err)
	}
	// image/jpeg writes the same four Annex K tables in the same order for a
	// colour image: the segments must be byte for byte identical.
	b := makeJPEG(t, 64, 48, false)
	d := findSegment(t, b, markerDHT)
	if !bytes.Equal(b[d.start:d.end], standardDHT) {
		t.Fatalf("image/jpeg's DHT segment differs from the Annex K segment")
	}
}

func TestWithHuffman(t *testing.T) {
	color320 := makeJPEG(t, 320, 240, false)
	gray := makeJPEG(t, 33, 17, true)

	tests := []struct {
		name      string
		in        []byte
		orig      []byte // image whose pixels the result must decode to
		unchanged bool   // the result must be the input slice itself
		wantErr   error
	}{
		{name: "has tables", in: color320, orig: color320, unchanged: true},
		{name: "has tables, padded", in: append(clone(color320), 0, 0, 0), orig: color320, unchanged: true},
		{name: "colour without tables", in: stripDHT(t, color320), orig: color320},
		{name: "colour without tables, padded", in: append(stripDHT(t, color320), make([]byte, 37)...), orig: color320},
		{name: "grey without tables", in: stripDHT(t, gray), orig: gray},
		{name: "truncated", in: stripDHT(t, color320)[:500], wantErr: ErrTruncated},
		{name: "not a JPEG", in: []byte("GIF89a"), wantErr: ErrNotJPEG},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := clone(tc.in)
			out, err := WithHuffman(tc.in)
			if !bytes.Equal(before, tc.in) {
				t.Fatal("WithHuffman modified its input")
			}
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || out != nil {
					t.Fatalf("got %d bytes, err %v; want nil, %v", len(out), err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.unchanged {
				if len(out) != len(tc.in) || &out[0] != &tc.in[0] {
					t.Fatal("an image with tables must be returned unchanged")
				}
			} else if &out[0] == &tc.in[0] {
				t.Fatal("a repaired image must be a new slice")
			}
			info, n, err := Inspect(out)
			if err != nil || !info.HasHuffman {
				t.Fatalf("result: %+v, %v", info, err)
			}
			if !tc.unchanged && n != len(out) {
				t.Fatalf("repaired image has %d bytes after EOI", len(out)-n)
			}
			if !samePixels(decodePixels(t, out[:n]), decodePixels(t, tc.orig)) {
				t.Fatal("pixels differ from the original image")
			}
		})
	}

	// The stripped image really is unreadable without the repair.
	if _, err := stdjpeg.Decode(bytes.NewReader(stripDHT(t, color320))); err == nil {
		t.Fatal("image/jpeg decoded an image without Huffman tables; the repair test proves nothing")
	}
}

func TestAppendWithHuffman(t *testing.T) {
	color320 := makeJPEG(t, 320, 240, false)
	stripped := stripDHT(t, color320)
	buf := make([]byte, 0, 64<<10)
	for i, in := range [][]byte{stripped, append(clone(color320), 0, 0), stripped} {
		out, err := AppendWithHuffman(buf[:0], in)
		if err != nil {
			t.Fatal(err)
		}
		if &out[:1][0] != &buf[:1][0] {
			t.Fatalf("frame %d: buffer not reused", i)
		}
		if _, n, err := Inspect(out); err != nil || n != len(out) {
			t.Fatalf("frame %d: %v, %d of %d bytes", i, err, n, len(out))
		}
		if !samePixels(decodePixels(t, out), decodePixels(t, color320)) {
			t.Fatalf("frame %d: pixels differ", i)
		}
	}
	dst := []byte("keep")
	out, err := AppendWithHuffman(dst, stripped[:100])
	if !errors.Is(err, ErrTruncated) || string(out) != "keep" {
		t.Fatalf("on error got %q, %v", out, err)
	}
}

func BenchmarkInspect(b *testing.B) {
	img := makeJPEG(b, 1280, 720, false)
	b.SetBytes(int64(len(img)))
	for b.Loop() {
		if _, _, err := Inspect(img); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendWithHuffman(b *testing.B) {
	img := stripDHT(b, makeJPEG(b, 1280, 720, false))
	buf := make([]byte, 0, len(img)+len(standardDHT))
	b.SetBytes(int64(len(img)))
	for b.Loop() {
		var err error
		if buf, err = AppendWithHuffman(buf[:0], img); err != nil {
			b.Fatal(err)
		}
	}
}
