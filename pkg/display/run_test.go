package display

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/camstream/camstream/internal/matcheck"
	"github.com/camstream/camstream/pkg/display/xtest"
	"gocv.io/x/gocv"
)

// Frames fed to the window: a flat background with a black bar that moves each frame.
const (
	frameW, frameH = 640, 360
	bgB, bgG, bgR  = 190, 200, 210
)

var bgGray = float64(bgB+bgG+bgR) / 3

func testFrame(i int) gocv.Mat {
	m := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(bgB, bgG, bgR, 0), frameH, frameW, gocv.MatTypeCV8UC3)
	x := i * 12 % (frameW - 39) // 601 positions: the same place again only after 20 s
	gocv.Rectangle(&m, image.Rect(x, 200, x+40, 300), color.RGBA{}, -1)
	// A frame number, so that no two frames are alike.
	gocv.PutText(&m, strconv.Itoa(i), image.Pt(20, 340), gocv.FontHersheySimplex, 1, color.RGBA{}, 2)
	return m
}

// fakeNet plays the network side: it feeds frames into a slot and answers Info.
type fakeNet struct {
	slot *Slot
	mu   sync.Mutex
	info Info
	stop chan struct{}
	wg   sync.WaitGroup
}

func newFakeNet(live bool, state string) *fakeNet {
	return &fakeNet{slot: NewSlot(), info: Info{Live: live, State: state, FPS: 30, LatencyMs: 12, Dropped: 3, Width: frameW, Height: frameH}}
}

func (f *fakeNet) Info() Info {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.info
}

func (f *fakeNet) set(live bool, state string) {
	f.mu.Lock()
	f.info.Live, f.info.State = live, state
	f.mu.Unlock()
}

// feed puts a new frame into the slot about 30 times a second until halt.
func (f *fakeNet) feed() {
	f.stop = make(chan struct{})
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		t := time.NewTicker(33 * time.Millisecond)
		defer t.Stop()
		for i := 0; ; i++ {
			f.slot.Put(testFrame(i))
			select {
			case <-f.stop:
				return
			case <-t.C:
			}
		}
	}()
}

func (f *fakeNet) halt() {
	if f.stop != nil {
		close(f.stop)
		f.wg.Wait()
		f.stop = nil
	}
}

// run is a Run in progress on the main thread.
type run struct {
	cancel context.CancelFunc
	done   chan error
}

// startRun starts Run on the main thread. The test's cleanup cancels it and waits, so that a failed test does
// not leave the main thread busy.
func startRun(t *testing.T, slot *Slot, opt Options) *run {
	ctx, cancel := context.WithCancel(context.Background())
	r := &run{cancel: cancel, done: make(chan error, 1)}
	go func() {
		var err error
		onMain(func() { err = Run(ctx, slot, opt) })
		r.done <- err
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-r.done:
			if t.Failed() {
				t.Logf("Run returned %v", err)
			}
			r.done <- err
		case <-time.After(10 * time.Second):
			t.Error("Run did not return 10 s after its context was cancelled")
		}
	})
	return r
}

// wait returns Run's result, failing the test when it does not come within d.
func (r *run) wait(t *testing.T, d time.Duration) error {
	t.Helper()
	select {
	case err := <-r.done:
		r.done <- err // for the cleanup
		return err
	case <-time.After(d):
		t.Fatalf("Run still running after %s", d)
		return nil
	}
}

// running fails the test if Run has returned.
func (r *run) running(t *testing.T) {
	t.Helper()
	select {
	case err := <-r.done:
		r.done <- err
		t.Fatalf("Run returned early: %v", err)
	default:
	}
}

// waitWindow waits for the window named title to show at the given size and returns its id and place.
func waitWindow(t *testing.T, x *xtest.Server, title string, w, h int) (uint32, image.Rectangle) {
	t.Helper()
	id, err := x.FindWindow(title, 15*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var r image.Rectangle
	for deadline := time.Now().Add(5 * time.Second); ; {
		r, err = x.Geometry(id)
		if err != nil {
			t.Fatal(err)
		}
		if r.Dx() == w && r.Dy() == h {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("window %q is %dx%d, want %dx%d", title, r.Dx(), r.Dy(), w, h)
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // a few frames drawn
	return id, r
}

func grab(t *testing.T, x *xtest.Server, r image.Rectangle) image.Image {
	t.Helper()
	img, err := x.Grab(r)
	if err != nil {
		t.Fatal(err)
	}
	// CAMSTREAM_TEST_GRABS=dir keeps every grab, to look at what the window showed.
	if dir := os.Getenv("CAMSTREAM_TEST_GRABS"); dir != "" {
		grabs++
		xtest.SavePNG(img, dir, fmt.Sprintf("%s-%02d.png", strings.ReplaceAll(t.Name(), "/", "_"), grabs))
	}
	return img
}

var grabs int

// region translates a rectangle in window coordinates to the grab's.
func region(img image.Image, r image.Rectangle) image.Rectangle {
	return r.Add(img.Bounds().Min)
}

// overlayArea is where the stats box sits; clearArea is a part of the background nothing is drawn on.
var (
	overlayArea = image.Rect(10, 10, 120, 50)
	clearArea   = image.Rect(500, 20, 630, 60)
)

func TestRunLive(t *testing.T) {
	x := needX(t)
	start := matcheck.Count()
	log, logs := newLog(t)
	net := newFakeNet(true, "live")
	net.feed()
	defer net.halt()
	snaps := t.TempDir()
	title := "camstream — 127.0.0.1:8485"
	r := startRun(t, net.slot, Options{Title: title, SnapshotDir: snaps, Info: net.Info, Log: log})
	id, geo := waitWindow(t, x, title, frameW, frameH)

	// The picture moves.
	g1 := grab(t, x, geo)
	time.Sleep(time.Second)
	g2 := grab(t, x, geo)
	if d := xtest.Diff(g1, g2); d < 0.5 {
		t.Errorf("two grabs a second apart differ by %.2f: the window does not show the stream", d)
	}
	if m := xtest.Mean(g2, region(g2, clearArea)); m < bgGray-15 || m > bgGray+15 {
		t.Errorf("background reads %.0f, want about %.0f (grab saved to %s)", m, bgGray, xtest.SavePNG(g2, t.TempDir(), "live.png"))
	}
	// The overlay is on by default: a dark box in the top-left corner; o hides it.
	withOverlay := xtest.Mean(g2, region(g2, overlayArea))
	if withOverlay > bgGray*0.7 {
		t.Errorf("no overlay box in the corner: mean %.0f (grab saved to %s)", withOverlay, xtest.SavePNG(g2, t.TempDir(), "overlay.png"))
	}
	if err := x.Keys(id, "o"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	g3 := grab(t, x, geo)
	if m := xtest.Mean(g3, region(g3, overlayArea)); m < bgGray-15 {
		t.Errorf("after o the corner reads %.0f, want the background %.0f", m, bgGray)
	}
	if err := x.Keys(id, "o"); err != nil {
		t.Fatal(err)
	}

	// s saves the frame as received: full size, no overlay, not dimmed.
	if err := x.Keys(id, "s"); err != nil {
		t.Fatal(err)
	}
	snap := waitSnapshot(t, snaps)
	img := decodePNG(t, snap)
	if b := img.Bounds(); b.Dx() != frameW || b.Dy() != frameH {
		t.Errorf("snapshot is %dx%d, want %dx%d", b.Dx(), b.Dy(), frameW, frameH)
	}
	if m := xtest.Mean(img, overlayArea); m < bgGray-3 || m > bgGray+3 {
		t.Errorf("snapshot's corner reads %.0f, want the frame's %.0f (overlay drawn on the frame?)", m, bgGray)
	}
	if !logs.Contains("snapshot saved") || !logs.Contains(snap) {
		t.Errorf("the log does not give the snapshot's path %s", snap)
	}

	// Disconnected: the last frame dimmed, the state written on it, redrawn while nothing arrives.
	live := xtest.Mean(g2, image.Rectangle{})
	net.halt()
	net.set(false, "reconnecting to 127.0.0.1:8485… (connection refused)")
	time.Sleep(600 * time.Millisecond)
	d1 := grab(t, x, geo)
	if m := xtest.Mean(d1, image.Rectangle{}); m > live*0.6 {
		t.Errorf("not live: window mean %.0f, live %.0f; want it dimmed (grab saved to %s)", m, live, xtest.SavePNG(d1, t.TempDir(), "dim.png"))
	}
	if m := xtest.Mean(d1, region(d1, clearArea)); m > bgGray*0.45 {
		t.Errorf("not live: background reads %.0f, want it dimmed below %.0f", m, bgGray*0.45)
	}
	centre := image.Rect(frameW/2-100, frameH/2-15, frameW/2+100, frameH/2+15)
	if !hasBright(d1, region(d1, centre)) {
		t.Errorf("not live: no state text in the middle (grab saved to %s)", xtest.SavePNG(d1, t.TempDir(), "state.png"))
	}
	time.Sleep(1200 * time.Millisecond)
	d2 := grab(t, x, geo)
	if xtest.Diff(d1, d2) == 0 {
		t.Errorf("not live: the picture did not change in 1.2 s (the frame's age is shown and must tick)")
	}

	// Back to live.
	net.set(true, "live")
	net.feed()
	time.Sleep(500 * time.Millisecond)
	if m := xtest.Mean(grab(t, x, geo), region(d1, clearArea)); m < bgGray-15 {
		t.Errorf("live again: background reads %.0f, want %.0f", m, bgGray)
	}

	// Arrow keys do not quit (cv::waitKey would give 'Q' for the left arrow), q does.
	if err := x.Keys(id, "Left", "Right", "shift+s"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	r.running(t)
	if err := x.Keys(id, "q"); err != nil {
		t.Fatal(err)
	}
	if err := r.wait(t, 5*time.Second); !errors.Is(err, ErrQuit) {
		t.Errorf("after q: Run = %v, want ErrQuit", err)
	}
	if !x.WindowGone(title) {
		t.Error("the window is still there after Run returned")
	}
	net.halt()
	net.slot.Close()
	matcheck.Expect(t, start)
}

// hasBright reports whether r holds text-bright pixels (> 150 on every channel).
func hasBright(img image.Image, r image.Rectangle) bool {
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			if cr>>8 > 150 && cg>>8 > 150 || cb>>8 > 150 && cg>>8 > 150 {
				n++
			}
		}
	}
	return n > 20
}

func waitSnapshot(t *testing.T, dir string) string {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		m, _ := filepath.Glob(filepath.Join(dir, "camstream-*.png"))
		if len(m) > 0 {
			return m[0]
		}
	}
	t.Fatalf("no snapshot in %s", dir)
	return ""
}

func decodePNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	return img
}

func TestRunNeverConnected(t *testing.T) {
	x := needX(t)
	start := matcheck.Count()
	log, _ := newLog(t)
	net := newFakeNet(false, "connecting to 127.0.0.1:8485…")
	title := "camstream — never connected"
	r := startRun(t, net.slot, Options{Title: title, Info: net.Info, Log: log})
	id, geo := waitWindow(t, x, title, defaultWidth, defaultHeight)
	g := grab(t, x, geo)
	if m := xtest.Mean(g, region(g, clearArea)); m > 60 {
		t.Errorf("card background reads %.0f, want dark", m)
	}
	centre := image.Rect(defaultWidth/2-100, defaultHeight/2-15, defaultWidth/2+100, defaultHeight/2+15)
	if !hasBright(g, region(g, centre)) {
		t.Errorf("no state text on the card (grab saved to %s)", xtest.SavePNG(g, t.TempDir(), "card.png"))
	}
	if err := x.Keys(id, "s", "Escape"); err != nil { // s without a frame: nothing to save, no crash
		t.Fatal(err)
	}
	if err := r.wait(t, 5*time.Second); !errors.Is(err, ErrQuit) {
		t.Errorf("after Esc: Run = %v, want ErrQuit", err)
	}
	net.slot.Close()
	matcheck.Expect(t, start)
}

func TestRunWindowClosed(t *testing.T) {
	x := needX(t)
	start := matcheck.Count()
	log, logs := newLog(t)
	net := newFakeNet(true, "live")
	net.feed()
	defer net.halt()
	title := "camstream — closed by the user"
	r := startRun(t, net.slot, Options{Title: title, Info: net.Info, Log: log})
	id, _ := waitWindow(t, x, title, frameW, frameH)
	if err := x.CloseWindow(id); err != nil {
		t.Fatal(err)
	}
	if err := r.wait(t, 5*time.Second); !errors.Is(err, ErrQuit) {
		t.Errorf("after the window was closed: Run = %v, want ErrQuit", err)
	}
	if !logs.Contains("closed by the user") {
		t.Error("the log does not say the user closed the window")
	}
	net.halt()
	net.slot.Close()
	matcheck.Expect(t, start)
}

func TestRunContextDone(t *testing.T) {
	x := needX(t)
	start := matcheck.Count()
	log, _ := newLog(t)
	net := newFakeNet(true, "live")
	net.feed()
	defer net.halt()
	title := "camstream — cancelled"
	r := startRun(t, net.slot, Options{Title: title, Info: net.Info, Log: log})
	waitWindow(t, x, title, frameW, frameH)
	r.cancel()
	if err := r.wait(t, 3*time.Second); err != nil {
		t.Errorf("after cancel: Run = %v, want nil", err)
	}
	time.Sleep(200 * time.Millisecond)
	if !x.WindowGone(title) {
		t.Error("the window is still there after Run returned")
	}
	net.halt()
	net.slot.Close()
	matcheck.Expect(t, start)
}

func TestRunSnapshotFailure(t *testing.T) {
	x := needX(t)
	for name, dir := range map[string]string{
		"read-only dir": readOnlyDir(t),
		"missing dir":   filepath.Join(t.TempDir(), "gone"),
	} {
		t.Run(name, func(t *testing.T) {
			log, logs := newLog(t)
			net := newFakeNet(true, "live")
			net.feed()
			defer net.halt()
			title := "camstream — snapshot into " + name
			r := startRun(t, net.slot, Options{Title: title, SnapshotDir: dir, Info: net.Info, Log: log})
			id, geo := waitWindow(t, x, title, frameW, frameH)
			if err := x.Keys(id, "s"); err != nil {
				t.Fatal(err)
			}
			for deadline := time.Now().Add(3 * time.Second); !logs.Contains("snapshot failed"); time.Sleep(50 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("no error logged for a snapshot into %s; log:\n%s", dir, logs)
				}
			}
			if !logs.Contains("level=ERROR") || !logs.Contains(dir) {
				t.Errorf("the error is not logged as an error naming %s:\n%s", dir, logs)
			}
			// The window goes on.
			g1 := grab(t, x, geo)
			time.Sleep(500 * time.Millisecond)
			g2 := grab(t, x, geo)
			r.running(t)
			if xtest.Diff(g1, g2) < 0.5 {
				t.Error("the stream stopped moving after the failed snapshot")
			}
			if err := x.Keys(id, "q"); err != nil {
				t.Fatal(err)
			}
			if err := r.wait(t, 5*time.Second); !errors.Is(err, ErrQuit) {
				t.Errorf("Run = %v, want ErrQuit", err)
			}
			net.halt()
			net.slot.Close()
		})
	}
}

func TestRunNilInfo(t *testing.T) {
	x := needX(t)
	net := newFakeNet(true, "")
	net.feed()
	defer net.halt()
	title := "camstream — no info"
	r := startRun(t, net.slot, Options{Title: title})
	id, geo := waitWindow(t, x, title, frameW, frameH)
	g := grab(t, x, geo)
	if m := xtest.Mean(g, region(g, clearArea)); m < bgGray-15 {
		t.Errorf("without Info the frames are not shown as live: background %.0f", m)
	}
	if err := x.Keys(id, "q"); err != nil {
		t.Fatal(err)
	}
	if err := r.wait(t, 5*time.Second); !errors.Is(err, ErrQuit) {
		t.Errorf("Run = %v, want ErrQuit", err)
	}
	net.halt()
	net.slot.Close()
}

func TestRunNoDisplay(t *testing.T) {
	t.Setenv("DISPLAY", "")
	t.Setenv("WAYLAND_DISPLAY", "")
	var err error
	onMain(func() { err = Run(context.Background(), NewSlot(), Options{}) })
	if err == nil || !strings.Contains(err.Error(), "DISPLAY") {
		t.Errorf("Run without a display = %v, want an error about DISPLAY", err)
	}
}

// readOnlyDir returns a directory this process cannot create files in. Root ignores permission bits, so as
// root it falls back to /sys, where nobody can create files.
func readOnlyDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ro")
	if err := os.Mkdir(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o755) })
	for _, d := range []string{dir, "/sys"} {
		probe := filepath.Join(d, "camstream-probe")
		f, err := os.Create(probe)
		if err != nil {
			return d
		}
		f.Close()
		os.Remove(probe)
	}
	t.Skip("no read-only directory available (running as root on a writable /sys)")
	return ""
}
