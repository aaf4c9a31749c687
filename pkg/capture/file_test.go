package capture

import (
	"bytes"
	"testing"

	"gocv.io/x/gocv"
)

func TestFileSource(t *testing.T) {
	dir := t.TempDir()
	const frames = 20
	mjpegAVI := makeVideo(t, dir, "x.avi", "mjpeg", frames)
	mjpegMKV := makeVideo(t, dir, "x.mkv", "mjpeg", frames)
	mpeg4 := makeVideo(t, dir, "y.avi", "mpeg4", frames)
	aviJPEGs := extractJPEGs(t, mjpegAVI)
	mkvJPEGs := extractJPEGs(t, mjpegMKV)
	if len(aviJPEGs) != frames || len(mkvJPEGs) != frames {
		t.Fatalf("ffmpeg extracted %d and %d frames, want %d", len(aviJPEGs), len(mkvJPEGs), frames)
	}

	tests := []struct {
		name     string
		file     string
		wantJPEG bool
		kind     Kind
		jpegs    [][]byte // expected bytes of each frame for KindJPEG
	}{
		{"MJPEG AVI passthrough", mjpegAVI, true, KindJPEG, aviJPEGs},
		{"MJPEG Matroska passthrough", mjpegMKV, true, KindJPEG, mkvJPEGs},
		{"MJPEG AVI decoded", mjpegAVI, false, KindPixels, nil},
		{"MPEG-4 with WantJPEG", mpeg4, true, KindPixels, nil},
		{"MPEG-4", mpeg4, false, KindPixels, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkMats(t)
			log, rec := testLogger(t)
			src, err := Open(tc.file, Options{WantJPEG: tc.wantJPEG}, log)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			if rec.count("capture: source opened") != 1 {
				t.Errorf("open not logged once: %q", rec.all())
			}
			if got := src.(NominalRater).NominalFPS(); got != 30 {
				t.Errorf("NominalFPS = %v, want 30", got)
			}
			m := gocv.NewMat()
			defer m.Close()
			// Two and a half passes: the file loops.
			for i := 0; i < frames*5/2; i++ {
				k, err := src.Read(&m)
				if err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				if k != tc.kind {
					t.Fatalf("frame %d: kind %v, want %v", i, k, tc.kind)
				}
				if k == KindJPEG {
					b, err := m.DataPtrUint8()
					if err != nil {
						t.Fatal(err)
					}
					if want := tc.jpegs[i%frames]; !bytes.Equal(b, want) {
						t.Fatalf("frame %d: %d bytes differ from the file's frame %d (%d bytes)", i, len(b), i%frames, len(want))
					}
					continue
				}
				if m.Cols() != 320 || m.Rows() != 240 || m.Type() != gocv.MatTypeCV8UC3 {
					t.Fatalf("frame %d: %dx%d %v, want 320x240 CV8UC3", i, m.Cols(), m.Rows(), m.Type())
				}
			}
		})
	}
}

// A file that opens but has no frame is an error at Open, not an endless
// loop of rewinds.
func TestFileWithoutFrames(t *testing.T) {
	checkMats(t)
	dir := t.TempDir()
	file := makeVideo(t, dir, "none.avi", "mjpeg", 0)
	src, err := Open(file, Options{}, nil)
	if err == nil {
		src.Close()
		t.Fatal("a file without frames opened")
	}
	t.Log(err)
}

// A frame that is not a valid JPEG is decoded instead of passed through.
func TestCheckJPEGFallsBackToDecode(t *testing.T) {
	checkMats(t)
	log, rec := testLogger(t)
	s := &vcSource{desc: "test", log: log, raw: true}
	good := extractJPEGs(t, makeVideo(t, t.TempDir(), "x.avi", "mjpeg", 1))[0]
	// Trailing garbage after the EOI: not a clean JPEG, but libjpeg decodes it.
	dirty := append(bytes.Clone(good), 0x12, 0x34)
	for i, tc := range []struct {
		in      []byte
		kind    Kind
		wantErr bool
	}{
		{good, KindJPEG, false},
		{append(bytes.Clone(good), 0, 0, 0), KindJPEG, false},
		{dirty, KindPixels, false},
		{dirty, KindPixels, false},
		{[]byte("garbage garbage"), KindPixels, true},
	} {
		m, err := gocv.NewMatFromBytes(1, len(tc.in), gocv.MatTypeCV8UC1, tc.in)
		if err != nil {
			t.Fatal(err)
		}
		dst := m.Clone() // C-owned copy, like a backend's frame
		m.Close()
		k, err := s.checkJPEG(&dst)
		if (err != nil) != tc.wantErr || k != tc.kind {
			t.Errorf("case %d: kind %v, err %v", i, k, err)
		}
		if k == KindPixels && err == nil && (dst.Cols() != 320 || dst.Rows() != 240) {
			t.Errorf("case %d: decoded %dx%d", i, dst.Cols(), dst.Rows())
		}
		dst.Close()
	}
	if n := rec.count("capture: a frame from the source is not a clean JPEG; decoding such frames instead of passing them through (logged once)"); n != 1 {
		t.Errorf("fallback logged %d times, want 1", n)
	}
}
