package capture

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/camstream/camstream/internal/matcheck"

	"gocv.io/x/gocv"
)

// checkMats fails the test if it leaves more or fewer live Mats than it found (with -tags matprofile); see
// internal/matcheck. Register it first in a test so that it runs after the test's other cleanups.
func checkMats(t testing.TB) {
	t.Helper()
	matcheck.Check(t)
}

// recorder is a slog.Handler that keeps the messages it is given.
type recorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	r.msgs = append(r.msgs, rec.Message)
	r.mu.Unlock()
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

func (r *recorder) count(msg string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.msgs {
		if m == msg {
			n++
		}
	}
	return n
}

func (r *recorder) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.msgs)
}

// testLogger returns a logger that records messages and, with -v, prints them.
func testLogger(t testing.TB) (*slog.Logger, *recorder) {
	rec := &recorder{}
	return slog.New(multiHandler{rec, slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})}), rec
}

type multiHandler []slog.Handler

func (m multiHandler) Enabled(context.Context, slog.Level) bool { return true }
func (m multiHandler) Handle(ctx context.Context, r slog.Record) error {
	for _, h := range m {
		if err := h.Handle(ctx, r.Clone()); err != nil {
			return err
		}
	}
	return nil
}
func (m multiHandler) WithAttrs([]slog.Attr) slog.Handler { return m }
func (m multiHandler) WithGroup(string) slog.Handler      { return m }

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// ffmpeg runs ffmpeg with args in dir.
func ffmpeg(t testing.TB, dir string, args ...string) {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg not installed")
	}
	cmd := exec.Command("ffmpeg", append([]string{"-hide_banner", "-loglevel", "error", "-y"}, args...)...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %v: %v\n%s", args, err, out)
	}
}

// makeVideo writes a 320x240 30 fps testsrc video of the given frames and
// codec to dir/name.
func makeVideo(t testing.TB, dir, name, codec string, frames int) string {
	t.Helper()
	args := []string{"-f", "lavfi", "-i", "testsrc=size=320x240:rate=30", "-frames:v", strconv.Itoa(frames), "-c:v", codec}
	if codec == "mjpeg" {
		args = append(args, "-q:v", "5")
	}
	ffmpeg(t, dir, append(args, name)...)
	return filepath.Join(dir, name)
}

// extractJPEGs copies the video's JPEG packets out with ffmpeg, independently
// of OpenCV, and returns them in order.
func extractJPEGs(t testing.TB, video string) [][]byte {
	t.Helper()
	dir := t.TempDir()
	ffmpeg(t, dir, "-i", video, "-c:v", "copy", "-f", "image2", filepath.Join(dir, "f%04d.jpg"))
	names, err := filepath.Glob(filepath.Join(dir, "f*.jpg"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no frames extracted: %v", err)
	}
	sort.Strings(names)
	var frames [][]byte
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, b)
	}
	return frames
}

// fakeSource is a Source for supervisor tests: it renders one test pattern
// picture (or returns fixed JPEG bytes), can fail after some frames, sleep
// per read, or block a read until released.
type fakeSource struct {
	tp        *TestPattern
	jpeg      []byte // KindJPEG frames when set
	n         int
	failAfter int           // Read fails once n reaches it (0 = never)
	delay     time.Duration // per Read
	block     chan struct{} // Read number blockAt waits until this is closed
	blockAt   int
	closes    *atomic.Int32
	reads     atomic.Int32
}

var errUnplugged = errors.New("fake: device unplugged")

func (f *fakeSource) Read(dst *gocv.Mat) (Kind, error) {
	f.reads.Add(1)
	if f.failAfter > 0 && f.n >= f.failAfter {
		return KindPixels, errUnplugged
	}
	if f.block != nil && f.n == f.blockAt {
		<-f.block
	}
	if f.delay > 0 {
		time.Sleep(f.delay)
	}
	f.n++
	if f.jpeg != nil {
		m, err := gocv.NewMatFromBytes(1, len(f.jpeg), gocv.MatTypeCV8UC1, f.jpeg)
		if err != nil {
			return KindPixels, err
		}
		m.CopyTo(dst)
		m.Close()
		return KindJPEG, nil
	}
	f.tp.Render(dst, 0, time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC))
	return KindPixels, nil
}

func (f *fakeSource) Close() error {
	f.closes.Add(1)
	if f.tp != nil {
		f.tp.Close()
	}
	return nil
}

func (f *fakeSource) String() string { return "fake" }

// fakeOpener opens fake sources: the first fails opens fail, then each open
// returns a new source made by mk. It remembers every source it made.
type fakeOpener struct {
	mu      sync.Mutex
	fails   int
	opens   int
	mk      func(i int) *fakeSource
	sources []*fakeSource
	closes  []*atomic.Int32
}

func (o *fakeOpener) open(spec string, opt Options, log *slog.Logger) (Source, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.opens++
	if o.opens <= o.fails {
		return nil, errors.New("fake: no such device")
	}
	s := o.mk(len(o.sources))
	s.closes = new(atomic.Int32)
	o.sources = append(o.sources, s)
	o.closes = append(o.closes, s.closes)
	return s, nil
}

// checkClosedOnce asserts every source the opener made was closed exactly once.
func (o *fakeOpener) checkClosedOnce(t testing.TB) {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	for i, c := range o.closes {
		if n := c.Load(); n != 1 {
			t.Errorf("source %d closed %d times, want 1", i, n)
		}
	}
}

func pixelSource(w, h int) func(int) *fakeSource {
	return func(int) *fakeSource { return &fakeSource{tp: NewTestPattern(w, h, false)} }
}

// emitted is what a test's emit callback saw of one frame.
type emitted struct {
	at            time.Time
	noSignal      bool
	kind          Kind
	width, height int
	jpeg          []byte
}

// collector is an emit callback that records frames.
type collector struct {
	mu     sync.Mutex
	frames []emitted
	keep   func(*Frame) // optional extra check, called during emit
}

func (c *collector) emit(f *Frame) {
	e := emitted{at: time.Now(), noSignal: f.NoSignal, kind: f.Kind, width: f.Width, height: f.Height}
	if f.Kind == KindJPEG {
		e.jpeg = slices.Clone(f.JPEG)
	}
	if c.keep != nil {
		c.keep(f)
	}
	c.mu.Lock()
	c.frames = append(c.frames, e)
	c.mu.Unlock()
}

func (c *collector) snapshot() []emitted {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.frames)
}

// runFor runs sup for d and returns how long Run took to return after the
// context was cancelled.
func runFor(t testing.TB, sup *Supervisor, d time.Duration, emit func(*Frame)) time.Duration {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sup.Run(ctx, emit) }()
	time.Sleep(d)
	cancel()
	start := time.Now()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run returned %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within 5s of cancel")
	}
	return time.Since(start)
}
