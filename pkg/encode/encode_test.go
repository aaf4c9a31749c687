package encode

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/camstream/camstream/internal/matcheck"
	"github.com/camstream/camstream/pkg/capture"
	"github.com/camstream/camstream/pkg/metrics"
	"github.com/camstream/camstream/pkg/wire"
)

// testPixels returns a 64x48 BGR picture with a gradient; the caller closes it.
func testPixels(t *testing.T) gocv.Mat {
	m := gocv.NewMatWithSize(48, 64, gocv.MatTypeCV8UC3)
	for y := 0; y < 48; y++ {
		for x := 0; x < 64; x++ {
			m.SetUCharAt(y, x*3, uint8(4*x))
			m.SetUCharAt(y, x*3+1, uint8(5*y))
			m.SetUCharAt(y, x*3+2, 200)
		}
	}
	return m
}

func testJPEG(t *testing.T) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for y := 0; y < 48; y++ {
		for x := 0; x < 64; x++ {
			img.Set(x, y, color.RGBA{uint8(4 * x), uint8(5 * y), 100, 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestEncode(t *testing.T) {
	matcheck.Check(t)
	pix := testPixels(t)
	defer pix.Close()
	src := testJPEG(t)
	now := time.Unix(1700000000, 123)
	jpeg80 := Format{wire.CodecJPEG, 80}
	jpeg50 := Format{wire.CodecJPEG, 50}
	bgr := Format{Codec: wire.CodecBGR}
	tests := []struct {
		name        string
		frame       capture.Frame
		formats     []Format
		passthrough bool
	}{
		{"pixels to jpeg", capture.Frame{Kind: capture.KindPixels, Mat: &pix}, []Format{jpeg80}, false},
		{"pixels to all", capture.Frame{Kind: capture.KindPixels, Mat: &pix}, []Format{jpeg80, jpeg50, bgr}, false},
		{"source jpeg passes through", capture.Frame{Kind: capture.KindJPEG, JPEG: src}, []Format{jpeg80}, true},
		{"source jpeg re-encoded at another quality", capture.Frame{Kind: capture.KindJPEG, JPEG: src}, []Format{jpeg50, bgr}, false},
		{"no signal, nobody watching", capture.Frame{Kind: capture.KindPixels, Mat: &pix, NoSignal: true}, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := metrics.New("test")
			e := New(80, m)
			defer e.Close()
			tc.frame.Captured, tc.frame.Width, tc.frame.Height = now, 64, 48
			fr, err := e.Encode(&tc.frame, 42, tc.formats)
			if err != nil {
				t.Fatal(err)
			}
			if fr.Seq != 42 || fr.Width != 64 || fr.Height != 48 || fr.Passthrough != tc.passthrough || fr.NoSignal != tc.frame.NoSignal {
				t.Fatalf("frame %+v", fr)
			}
			if len(fr.Encodings) != len(tc.formats) {
				t.Fatalf("%d encodings for %d formats", len(fr.Encodings), len(tc.formats))
			}
			for _, f := range tc.formats {
				enc, ok := fr.Get(f)
				if !ok {
					t.Fatalf("no %v", f)
				}
				// The message is a complete wire frame whose payload is Payload.
				got, err := wire.DecodeFrame(enc.Msg[wire.HeaderLen:])
				if err != nil {
					t.Fatal(err)
				}
				if got.Seq != 42 || got.Captured != now.UnixNano() || got.Codec != f.Codec || !bytes.Equal(got.Payload, enc.Payload) ||
					(got.Flags&wire.FlagNoSignal != 0) != tc.frame.NoSignal {
					t.Fatalf("%v: header %+v", f, got.FrameHeader)
				}
				switch f.Codec {
				case wire.CodecJPEG:
					img, err := jpeg.Decode(bytes.NewReader(enc.Payload))
					if err != nil || img.Bounds().Dx() != 64 || img.Bounds().Dy() != 48 {
						t.Fatalf("%v: %v %v", f, err, img.Bounds())
					}
					if tc.passthrough && !bytes.Equal(enc.Payload, src) {
						t.Fatal("passthrough changed the source's JPEG")
					}
				case wire.CodecBGR:
					if len(enc.Payload) != 64*48*3 {
						t.Fatalf("BGR payload %d bytes", len(enc.Payload))
					}
					if tc.frame.Kind == capture.KindPixels && !bytes.Equal(enc.Payload, pix.ToBytes()) {
						t.Fatal("BGR payload differs from the pixels")
					}
				}
			}
		})
	}
}

func TestEncodeErrors(t *testing.T) {
	matcheck.Check(t)
	e := New(80, metrics.New("test"))
	defer e.Close()
	bad := capture.Frame{Kind: capture.KindJPEG, JPEG: []byte{0xff, 0xd8, 0xff, 0xd9}, Width: 64, Height: 48}
	if _, err := e.Encode(&bad, 1, []Format{{wire.CodecBGR, 0}}); err == nil {
		t.Error("undecodable source JPEG: no error")
	}
	huge := capture.Frame{Kind: capture.KindPixels, Width: 10000, Height: 10}
	if _, err := e.Encode(&huge, 1, nil); err == nil {
		t.Error("oversized frame: no error")
	}
}

func BenchmarkEncodeJPEG720p(b *testing.B) {
	m := gocv.NewMatWithSize(720, 1280, gocv.MatTypeCV8UC3)
	defer m.Close()
	gocv.RandU(&m, gocv.NewScalar(0, 0, 0, 0), gocv.NewScalar(255, 255, 255, 0))
	e := New(80, metrics.New("bench"))
	defer e.Close()
	cf := capture.Frame{Kind: capture.KindPixels, Mat: &m, Width: 1280, Height: 720, Captured: time.Now()}
	formats := []Format{{wire.CodecJPEG, 80}}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := e.Encode(&cf, uint64(i), formats); err != nil {
			b.Fatal(err)
		}
	}
}
