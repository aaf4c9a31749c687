package capture

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	stdjpeg "image/jpeg"
	"log/slog"
	"runtime"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/camstream/camstream/pkg/jpeg"
	"gocv.io/x/gocv"
)

const (
	msgNoSignal  = "capture: no signal"
	msgLive      = "capture: live"
	msgLiveAgain = "capture: live again"
)

// split divides frames into runs of cards and of live frames: e.g.
// "card live card live" for a source that failed, came, went and came back.
func runs(frames []emitted) []string {
	var out []string
	for _, f := range frames {
		k := "live"
		if f.noSignal {
			k = "card"
		}
		if len(out) == 0 || out[len(out)-1] != k {
			out = append(out, k)
		}
	}
	return out
}

// cardGaps returns the intervals between consecutive cards of the first
// run of cards.
func cardGaps(frames []emitted) []time.Duration {
	var gaps []time.Duration
	var last time.Time
	for _, f := range frames {
		if !f.noSignal {
			if !last.IsZero() {
				break
			}
			continue
		}
		if !last.IsZero() {
			gaps = append(gaps, f.at.Sub(last))
		}
		last = f.at
	}
	return gaps
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func TestSupervisorRecovers(t *testing.T) {
	tests := []struct {
		name      string
		fails     int                   // opens that fail first
		mk        func(int) *fakeSource // the sources
		wantRuns  []string
		wantLogs  map[string]int
		wantOpens int // at least
	}{
		{
			name:  "open fails 3 times then succeeds",
			fails: 3,
			mk: func(int) *fakeSource {
				return &fakeSource{tp: NewTestPattern(320, 240, false), delay: 5 * time.Millisecond}
			},
			wantRuns:  []string{"card", "live"},
			wantLogs:  map[string]int{msgNoSignal: 1, msgLive: 0, msgLiveAgain: 1},
			wantOpens: 4,
		},
		{
			name: "source dies mid-stream and comes back",
			mk: func(i int) *fakeSource {
				s := &fakeSource{tp: NewTestPattern(320, 240, false), delay: 5 * time.Millisecond}
				if i == 0 {
					s.failAfter = 10
				}
				return s
			},
			wantRuns:  []string{"live", "card", "live"},
			wantLogs:  map[string]int{msgNoSignal: 1, msgLive: 1, msgLiveAgain: 1},
			wantOpens: 2,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkMats(t)
			log, rec := testLogger(t)
			op := &fakeOpener{fails: tc.fails, mk: tc.mk}
			sup := NewSupervisor(Config{
				Source: "/dev/video0", Opener: op.open, Log: log,
				RetryInterval: 150 * time.Millisecond, NoSignalInterval: 40 * time.Millisecond,
				Width: 160, Height: 120,
			})
			var c collector
			runFor(t, sup, 1200*time.Millisecond, c.emit)
			frames := c.snapshot()

			if got := runs(frames); !equalStrings(got, tc.wantRuns) {
				t.Fatalf("emitted %v, want %v", got, tc.wantRuns)
			}
			for msg, want := range tc.wantLogs {
				if got := rec.count(msg); got != want {
					t.Errorf("%q logged %d times, want %d; log: %q", msg, got, want, rec.all())
				}
			}
			if op.opens < tc.wantOpens {
				t.Errorf("%d opens, want at least %d", op.opens, tc.wantOpens)
			}
			op.checkClosedOnce(t)

			// Cards come about every NoSignalInterval, at the card's size.
			gaps := cardGaps(frames)
			if len(gaps) < 2 {
				t.Fatalf("only %d cards", len(gaps)+1)
			}
			if m := median(gaps); m < 25*time.Millisecond || m > 80*time.Millisecond {
				t.Errorf("median gap between cards %v, want about 40ms (%v)", m, gaps)
			}
			for _, f := range frames {
				if f.noSignal && (f.width != 160 || f.height != 120 || f.kind != KindPixels) {
					t.Fatalf("card %dx%d %v", f.width, f.height, f.kind)
				}
				if !f.noSignal && (f.width != 320 || f.height != 240) {
					t.Fatalf("frame %dx%d", f.width, f.height)
				}
			}
			st := sup.Status()
			if st.State != StateLive || st.Frames == 0 || st.Source != "V4L2 device /dev/video0" || st.LastError == "" {
				t.Errorf("status %+v", st)
			}
		})
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A source that never opens: cards forever, one log line, no busy retrying.
func TestSupervisorNeverOpens(t *testing.T) {
	checkMats(t)
	log, rec := testLogger(t)
	op := &fakeOpener{fails: 1 << 30}
	sup := NewSupervisor(Config{Source: "rtsp://u:hunter2@cam/x", Opener: op.open, Log: log,
		RetryInterval: 100 * time.Millisecond, NoSignalInterval: 50 * time.Millisecond})
	var c collector
	runFor(t, sup, 520*time.Millisecond, c.emit)
	frames := c.snapshot()
	if got := runs(frames); !equalStrings(got, []string{"card"}) {
		t.Fatalf("emitted %v", got)
	}
	if n := len(frames); n < 7 || n > 13 {
		t.Errorf("%d cards in 520ms at 50ms, want about 10", n)
	}
	if op.opens < 4 || op.opens > 7 {
		t.Errorf("%d opens in 520ms at 100ms, want about 6", op.opens)
	}
	if n := rec.count(msgNoSignal); n != 1 {
		t.Errorf("no signal logged %d times", n)
	}
	if st := sup.Status(); st.State != StateNoSignal || st.Source != "URL rtsp://cam/x" {
		t.Errorf("status %+v", st)
	}
	if frames[0].width != 640 || frames[0].height != 480 {
		t.Errorf("default card size %dx%d", frames[0].width, frames[0].height)
	}
}

// Run returns promptly on cancel even while a read blocks, and the source is
// still closed exactly once (by the background closer, when the read
// returns); no Mat leaks.
func TestSupervisorCancelDuringBlockedRead(t *testing.T) {
	checkMats(t)
	log, rec := testLogger(t)
	release := make(chan struct{})
	op := &fakeOpener{mk: func(int) *fakeSource {
		return &fakeSource{tp: NewTestPattern(160, 120, false), block: release, blockAt: 3}
	}}
	sup := NewSupervisor(Config{Source: "0", Opener: op.open, Log: log, StallTimeout: 100 * time.Millisecond,
		NoSignalInterval: 30 * time.Millisecond})
	var c collector
	took := runFor(t, sup, 400*time.Millisecond, c.emit)
	if took > time.Second {
		t.Errorf("Run took %v to return with a blocked read", took)
	}
	if n := op.closes[0].Load(); n != 0 {
		t.Fatalf("source closed %d times while its read is still running", n)
	}
	// The stall showed as NO SIGNAL.
	if got := runs(c.snapshot()); !equalStrings(got, []string{"live", "card"}) {
		t.Errorf("emitted %v, want live then cards", got)
	}
	if rec.count("capture: source call still blocked at shutdown; it is closed when the call returns") != 1 {
		t.Errorf("abandoned read not logged: %q", rec.all())
	}
	close(release)
	deadline := time.Now().Add(2 * time.Second)
	for op.closes[0].Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	op.checkClosedOnce(t)
}

// A read that stalls then returns: cards meanwhile, then live again.
// fakeFile is a fakeSource with a nominal rate, as a file has: the supervisor emits its frames on the reader's
// goroutine (inline), while the loop emits the cards.
type fakeFile struct{ *fakeSource }

func (f fakeFile) NominalFPS() float64 { return 100 }

func TestSupervisorStall(t *testing.T) {
	for _, file := range []bool{false, true} {
		t.Run(map[bool]string{false: "live source", true: "file"}[file], func(t *testing.T) {
			checkMats(t)
			log, rec := testLogger(t)
			release := make(chan struct{})
			op := &fakeOpener{mk: func(int) *fakeSource {
				return &fakeSource{tp: NewTestPattern(160, 120, false), block: release, blockAt: 5, delay: 5 * time.Millisecond}
			}}
			opener := op.open
			if file {
				opener = func(spec string, opt Options, log *slog.Logger) (Source, error) {
					s, err := op.open(spec, opt, log)
					if err != nil {
						return nil, err
					}
					return fakeFile{s.(*fakeSource)}, nil
				}
			}
			sup := NewSupervisor(Config{Source: "0", Opener: opener, Log: log, StallTimeout: 100 * time.Millisecond,
				NoSignalInterval: 30 * time.Millisecond})
			go func() { time.Sleep(400 * time.Millisecond); close(release) }()
			var c collector
			runFor(t, sup, 700*time.Millisecond, c.emit)
			if got := runs(c.snapshot()); !equalStrings(got, []string{"live", "card", "live"}) {
				t.Errorf("emitted %v, want live, cards, live", got)
			}
			for msg, want := range map[string]int{msgLive: 1, msgNoSignal: 1, msgLiveAgain: 1} {
				if got := rec.count(msg); got != want {
					t.Errorf("%q logged %d times, want %d", msg, got, want)
				}
			}
			if op.opens != 1 {
				t.Errorf("%d opens: a stalled source must not be reopened while its read runs", op.opens)
			}
			op.checkClosedOnce(t)
		})
	}
}

// Cancel returns quickly with real sources and closes them.
func TestSupervisorCancel(t *testing.T) {
	dir := t.TempDir()
	avi := makeVideo(t, dir, "x.avi", "mjpeg", 10)
	for _, spec := range []string{"testpattern", avi, "/dev/video0"} {
		t.Run(Describe(spec), func(t *testing.T) {
			checkMats(t)
			log, _ := testLogger(t)
			sup := NewSupervisor(Config{Source: spec, Log: log, Passthrough: true, Open: Options{Width: 320, Height: 240}})
			var c collector
			if took := runFor(t, sup, 300*time.Millisecond, c.emit); took > 200*time.Millisecond {
				t.Errorf("Run took %v to return", took)
			}
			if len(c.snapshot()) == 0 {
				t.Error("nothing emitted")
			}
		})
	}
}

func TestSupervisorAlreadyRunning(t *testing.T) {
	checkMats(t)
	sup := NewSupervisor(Config{Source: "testpattern", Log: slog.New(slog.DiscardHandler)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- sup.Run(ctx, func(*Frame) {}) }()
	time.Sleep(50 * time.Millisecond)
	if err := sup.Run(ctx, func(*Frame) {}); !errors.Is(err, ErrAlreadyRunning) {
		t.Errorf("second Run: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Error(err)
	}
}

// Pacing: about FPS frames a second, whether the source is paced by the
// supervisor (test pattern, file) or delivers faster on its own (a live
// source at 100 fps).
func TestSupervisorPacing(t *testing.T) {
	dir := t.TempDir()
	avi := makeVideo(t, dir, "x.avi", "mjpeg", 20)
	fast := func(int) *fakeSource {
		return &fakeSource{tp: NewTestPattern(160, 120, false), delay: 10 * time.Millisecond}
	}
	tests := []struct {
		name   string
		source string
		opener func(string, Options, *slog.Logger) (Source, error)
		fps    float64
		lo, hi int
	}{
		{"test pattern at 20", "testpattern", nil, 20, 10, 30},
		{"MJPEG file at 20", avi, nil, 20, 10, 30},
		{"MJPEG file at its own 30 under a cap of 60", avi, nil, 60, 20, 40},
		{"MJPEG file unpaced: as fast as it reads", avi, nil, 0, 100, 1 << 30},
		{"test pattern unpaced", "testpattern", nil, 0, 100, 1 << 30},
		{"live 100 fps source at 20", "0", (&fakeOpener{mk: fast}).open, 20, 10, 30},
		{"live 100 fps source unpaced", "0", (&fakeOpener{mk: fast}).open, 0, 50, 110},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkMats(t)
			log, _ := testLogger(t)
			sup := NewSupervisor(Config{Source: tc.source, Opener: tc.opener, Log: log, FPS: tc.fps, Passthrough: true,
				Open: Options{Width: 320, Height: 240}})
			var c collector
			runFor(t, sup, 1300*time.Millisecond, c.emit)
			frames := c.snapshot()
			if len(frames) == 0 {
				t.Fatal("no frames")
			}
			// Count the frames in the last full second.
			end := frames[len(frames)-1].at
			n := 0
			for _, f := range frames {
				if f.noSignal {
					t.Fatal("NO SIGNAL from a working source")
				}
				if end.Sub(f.at) < time.Second {
					n++
				}
			}
			t.Logf("%d frames in 1s", n)
			if n < tc.lo || n > tc.hi {
				t.Errorf("%d frames in 1s, want %d..%d", n, tc.lo, tc.hi)
			}
		})
	}
}

// Transforms: sizes and the mirror, checked against the source's picture.
func TestSupervisorTransform(t *testing.T) {
	ref := NewTestPattern(640, 480, false)
	defer ref.Close()
	refMat := gocv.NewMat()
	defer refMat.Close()
	ref.Render(&refMat, 0, time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)) // what fakeSource renders

	tests := []struct {
		name          string
		tr            Transform
		passthrough   bool
		wantW, wantH  int
		wantFlipped   bool
		wantUnchanged bool
	}{
		{"none", Transform{}, false, 640, 480, false, true},
		{"resize to 320", Transform{ResizeWidth: 320}, true, 320, 240, false, false},
		{"mirror", Transform{Mirror: true}, true, 640, 480, true, false},
		{"resize and mirror", Transform{ResizeWidth: 320, Mirror: true}, false, 320, 240, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkMats(t)
			log, _ := testLogger(t)
			op := &fakeOpener{mk: func(int) *fakeSource {
				return &fakeSource{tp: NewTestPattern(640, 480, false), delay: 10 * time.Millisecond}
			}}
			var checked atomic.Int32
			var failure atomic.Value
			c := collector{keep: func(f *Frame) {
				if f.NoSignal || f.Kind != KindPixels {
					failure.Store("unexpected frame")
					return
				}
				if f.Mat.Cols() != tc.wantW || f.Mat.Rows() != tc.wantH {
					failure.Store("wrong size")
					return
				}
				// Compare with the reference picture transformed without
				// the mirror.
				plain, scratch := gocv.NewMat(), gocv.NewMat()
				defer plain.Close()
				defer scratch.Close()
				refMat.CopyTo(&plain)
				want := Transform{ResizeWidth: tc.tr.ResizeWidth}.Apply(&plain, &scratch)
				w := want.Cols()
				for _, x := range []int{0, w / 4, w / 2, w - 1} {
					mx := x
					if tc.wantFlipped {
						mx = w - 1 - x
					}
					if !bytes.Equal(column(f.Mat, x), column(want, mx)) {
						failure.Store("pixels differ")
						return
					}
				}
				checked.Add(1)
			}}
			sup := NewSupervisor(Config{Source: "0", Opener: op.open, Log: log, Transform: tc.tr, Passthrough: tc.passthrough})
			runFor(t, sup, 200*time.Millisecond, c.emit)
			if f := failure.Load(); f != nil {
				t.Fatal(f)
			}
			if checked.Load() == 0 {
				t.Fatal("no frame checked")
			}
		})
	}
}

// Passthrough of a real MJPEG file end to end: the emitted JPEGs are the
// file's bytes. A transform forces decoding.
func TestSupervisorFilePassthrough(t *testing.T) {
	dir := t.TempDir()
	avi := makeVideo(t, dir, "x.avi", "mjpeg", 20)
	want := extractJPEGs(t, avi)
	tests := []struct {
		name        string
		passthrough bool
		tr          Transform
		kind        Kind
		w, h        int
	}{
		{"passthrough", true, Transform{}, KindJPEG, 320, 240},
		{"passthrough not allowed", false, Transform{}, KindPixels, 320, 240},
		{"transform needs pixels", true, Transform{Mirror: true, ResizeWidth: 160}, KindPixels, 160, 120},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkMats(t)
			log, _ := testLogger(t)
			// Files play at their own rate (30 fps), whatever FPS allows:
			// 1.1 s covers a loop of the 20 frames.
			sup := NewSupervisor(Config{Source: avi, Log: log, Passthrough: tc.passthrough, Transform: tc.tr, FPS: 100})
			var c collector
			runFor(t, sup, 1100*time.Millisecond, c.emit)
			frames := c.snapshot()
			if len(frames) < 25 {
				t.Fatalf("%d frames", len(frames))
			}
			// Every JPEG is one of the file's frames, byte for byte, starting
			// with the first, and the file loops: all of them are seen. (The
			// order is not checked frame by frame: under load the pacer may
			// drop one.)
			seen := map[int]bool{}
			for i, f := range frames {
				if f.kind != tc.kind || f.width != tc.w || f.height != tc.h || f.noSignal {
					t.Fatalf("frame %d: %v %dx%d nosignal=%v", i, f.kind, f.width, f.height, f.noSignal)
				}
				if f.kind != KindJPEG {
					continue
				}
				idx := slices.IndexFunc(want, func(w []byte) bool { return bytes.Equal(w, f.jpeg) })
				if idx < 0 || (i == 0 && idx != 0) {
					t.Fatalf("frame %d (%d bytes) is not the file's frame (index %d)", i, len(f.jpeg), idx)
				}
				seen[idx] = true
			}
			if tc.kind == KindJPEG && len(seen) != len(want) {
				t.Fatalf("saw %d of the file's %d frames", len(seen), len(want))
			}
			if st := sup.Status(); st.Passthrough != (tc.kind == KindJPEG) || st.State != StateLive {
				t.Errorf("status %+v", st)
			}
		})
	}
}

// A source whose JPEGs have no Huffman tables (many MJPG webcams) gets the
// standard ones inserted, and the result decodes like the original.
func TestSupervisorInsertsHuffmanTables(t *testing.T) {
	checkMats(t)
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7)
	}
	var buf bytes.Buffer
	if err := stdjpeg.Encode(&buf, img, nil); err != nil {
		t.Fatal(err)
	}
	orig := buf.Bytes()
	stripped := stripDHTSegments(t, orig)
	padded := append(bytes.Clone(stripped), 0, 0, 0, 0) // like a V4L2 buffer

	log, rec := testLogger(t)
	op := &fakeOpener{mk: func(int) *fakeSource { return &fakeSource{jpeg: padded, delay: 10 * time.Millisecond} }}
	sup := NewSupervisor(Config{Source: "0", Opener: op.open, Log: log, Passthrough: true})
	var c collector
	runFor(t, sup, 200*time.Millisecond, c.emit)
	frames := c.snapshot()
	if len(frames) == 0 {
		t.Fatal("no frames")
	}
	wantImg, _ := stdjpeg.Decode(bytes.NewReader(orig))
	for i, f := range frames {
		if f.kind != KindJPEG || f.width != 64 || f.height != 48 {
			t.Fatalf("frame %d: %v %dx%d", i, f.kind, f.width, f.height)
		}
		info, n, err := jpeg.Inspect(f.jpeg)
		if err != nil || !info.HasHuffman || n != len(f.jpeg) {
			t.Fatalf("frame %d: %+v %d %v", i, info, n, err)
		}
		got, err := stdjpeg.Decode(bytes.NewReader(f.jpeg))
		if err != nil {
			t.Fatalf("frame %d does not decode: %v", i, err)
		}
		if !sameImage(got, wantImg) {
			t.Fatalf("frame %d decodes to other pixels", i)
		}
	}
	if n := rec.count("capture: source JPEGs have no Huffman tables; inserting the standard ones (logged once per open)"); n != 1 {
		t.Errorf("table insertion logged %d times", n)
	}
}

// With a transform, JPEG frames from a source are decoded and transformed.
func TestSupervisorDecodesJPEGForTransform(t *testing.T) {
	checkMats(t)
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	var buf bytes.Buffer
	if err := stdjpeg.Encode(&buf, img, nil); err != nil {
		t.Fatal(err)
	}
	log, _ := testLogger(t)
	op := &fakeOpener{mk: func(int) *fakeSource { return &fakeSource{jpeg: buf.Bytes(), delay: 10 * time.Millisecond} }}
	sup := NewSupervisor(Config{Source: "0", Opener: op.open, Log: log, Passthrough: true, Transform: Transform{ResizeWidth: 32}})
	var c collector
	runFor(t, sup, 150*time.Millisecond, c.emit)
	frames := c.snapshot()
	if len(frames) == 0 {
		t.Fatal("no frames")
	}
	for _, f := range frames {
		if f.kind != KindPixels || f.width != 32 || f.height != 24 {
			t.Fatalf("%v %dx%d", f.kind, f.width, f.height)
		}
	}
}

func sameImage(a, b image.Image) bool {
	if a.Bounds() != b.Bounds() {
		return false
	}
	for y := a.Bounds().Min.Y; y < a.Bounds().Max.Y; y++ {
		for x := a.Bounds().Min.X; x < a.Bounds().Max.X; x++ {
			if color.RGBAModel.Convert(a.At(x, y)) != color.RGBAModel.Convert(b.At(x, y)) {
				return false
			}
		}
	}
	return true
}

// stripDHTSegments drops the DHT segments before the first SOS.
func stripDHTSegments(t testing.TB, b []byte) []byte {
	t.Helper()
	out := []byte{0xFF, 0xD8}
	pos := 2
	for pos+4 <= len(b) {
		m := b[pos+1]
		n := int(b[pos+2])<<8 | int(b[pos+3])
		if m == 0xDA {
			return append(out, b[pos:]...)
		}
		if m != 0xC4 {
			out = append(out, b[pos:pos+2+n]...)
		}
		pos += 2 + n
	}
	t.Fatal("no SOS")
	return nil
}

// stampSource delivers 8x8 frames whose pixels all hold the frame's number
// (mod 256) and notes whether a Read ran while a frame was being emitted.
type stampSource struct {
	n          int
	emitting   *atomic.Bool
	overlapped *atomic.Int32
}

func (s *stampSource) Read(dst *gocv.Mat) (Kind, error) {
	time.Sleep(time.Millisecond)
	if s.emitting.Load() {
		s.overlapped.Add(1)
	}
	v := float64(s.n % 256)
	s.n++
	m := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(v, v, v, 0), 8, 8, gocv.MatTypeCV8UC3)
	m.CopyTo(dst)
	m.Close()
	return KindPixels, nil
}
func (s *stampSource) Close() error   { return nil }
func (s *stampSource) String() string { return "stamp" }

// stampFile is a stampSource that, like a file, has a nominal rate.
type stampFile struct{ stampSource }

func (s *stampFile) NominalFPS() float64 { return 30 }

// stampOpener opens a stampSource (a live source) or, with file, a stampFile.
func stampOpener(file bool, emitting *atomic.Bool, overlapped *atomic.Int32) func(string, Options, *slog.Logger) (Source, error) {
	return func(string, Options, *slog.Logger) (Source, error) {
		s := stampSource{emitting: emitting, overlapped: overlapped}
		if file {
			return &stampFile{s}, nil
		}
		return &s, nil
	}
}

// A live source's next frame is read while the current one is emitted, into
// the other Mat: the frame under emit never changes and none is lost or
// repeated. A file (a NominalRater) is read only after the emit returns, and
// its frames are emitted by the goroutine that read them.
func TestSupervisorReadAhead(t *testing.T) {
	for _, tc := range []struct {
		name        string
		file        bool
		wantOverlap bool
	}{
		{"live source reads ahead", false, true},
		{"file does not", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkMats(t)
			var emitting atomic.Bool
			var overlapped atomic.Int32
			opener := stampOpener(tc.file, &emitting, &overlapped)
			log, _ := testLogger(t)
			sup := NewSupervisor(Config{Source: "0", Opener: opener, Log: log})
			var got []int
			var changed, onReader int
			runFor(t, sup, 500*time.Millisecond, func(f *Frame) {
				if f.NoSignal {
					t.Error("NO SIGNAL from a working source")
					return
				}
				if buf := make([]byte, 8192); bytes.Contains(buf[:runtime.Stack(buf, false)], []byte("capture.startReader")) {
					onReader++
				}
				emitting.Store(true)
				before := f.Mat.GetUCharAt(0, 0)
				time.Sleep(3 * time.Millisecond)
				if f.Mat.GetUCharAt(0, 0) != before || f.Mat.GetUCharAt(7, 23) != before {
					changed++
				}
				emitting.Store(false)
				got = append(got, int(before))
			})
			if len(got) < 10 {
				t.Fatalf("%d frames emitted, want at least 10", len(got))
			}
			if changed > 0 {
				t.Errorf("%d frames changed while they were emitted", changed)
			}
			for i := 1; i < len(got); i++ {
				if got[i] != (got[i-1]+1)%256 {
					t.Fatalf("frame %d is number %d after %d: a frame was lost or repeated", i, got[i], got[i-1])
				}
			}
			if n := overlapped.Load(); (n > 0) != tc.wantOverlap {
				t.Errorf("%d reads ran during an emit, want overlap %v", n, tc.wantOverlap)
			}
			// A file's frames are emitted by the goroutine that read them (encoded where they were decoded); a
			// live source's by the loop, while the reader reads the next.
			if wantReader := map[bool]int{true: len(got), false: 0}[tc.file]; onReader != wantReader {
				t.Errorf("%d of %d frames emitted on the reader's goroutine, want %d", onReader, len(got), wantReader)
			}
		})
	}
}

// permits is a Config.Demand for tests: each permit lets one read through.
type permits struct {
	mu   sync.Mutex
	n    int
	wake chan struct{}
}

func (p *permits) demand(bool) <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n > 0 {
		p.n--
		return nil
	}
	return p.wake
}

func (p *permits) give(n int) {
	p.mu.Lock()
	p.n += n
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// An unpaced file or test pattern is read when a consumer asks (Config.Demand), and once per DemandIdle when
// nobody does; live sources and paced files ignore Demand.
func TestSupervisorDemand(t *testing.T) {
	tests := []struct {
		name   string
		file   bool
		fps    float64
		give   int // permits given after the first frame
		lo, hi int // frames emitted in 500 ms
	}{
		{"unpaced file, nobody asks: the first frame only", true, 0, 0, 1, 1},
		{"unpaced file, 5 asks: 5 more frames", true, 0, 5, 6, 6},
		{"unpaced file, asked once: one more frame", true, 0, 1, 2, 2},
		{"paced file ignores demand: its own 30 fps", true, 100, 0, 10, 20},
		{"live source ignores demand", false, 0, 0, 20, 1 << 30},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkMats(t)
			opener := stampOpener(tc.file, new(atomic.Bool), new(atomic.Int32))
			p := &permits{wake: make(chan struct{}, 1)}
			log, _ := testLogger(t)
			sup := NewSupervisor(Config{Source: "x", Opener: opener, Log: log, FPS: tc.fps, Demand: p.demand})
			var n atomic.Int32
			first := make(chan struct{})
			go func() {
				<-first
				time.Sleep(50 * time.Millisecond)
				p.give(tc.give)
			}()
			runFor(t, sup, 500*time.Millisecond, func(f *Frame) {
				if n.Add(1) == 1 {
					close(first)
				}
			})
			if got := int(n.Load()); got < tc.lo || got > tc.hi {
				t.Errorf("%d frames in 500 ms, want %d..%d", got, tc.lo, tc.hi)
			}
		})
	}
}
