// Package window tests the client's viewer window end to end: the real server and client binaries, a private
// X server (Xvfb), and the window driven the way a person would, with keys, while the test grabs the screen.
package window

import (
	"fmt"
	"image"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/camstream/camstream/internal/testbin"
	"github.com/camstream/camstream/pkg/display/xtest"
)

const streamW, streamH = 640, 360

var (
	binDir string        // the server and client, built once
	xsrv   *xtest.Server // nil when Xvfb is missing or did not start
	xerr   error
)

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	dir, cleanup, err := testbin.Build("./services/...")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer cleanup()
	binDir = dir
	if xerr = xtest.Missing(); xerr == nil {
		xsrv, xerr = xtest.Start()
	}
	if xsrv != nil {
		defer xsrv.Stop()
	}
	return m.Run()
}

// needX returns the test X server; it skips without Xvfb (fails under CI=true).
func needX(t *testing.T) *xtest.Server {
	t.Helper()
	xtest.Require(t)
	if xsrv == nil {
		t.Fatalf("Xvfb: %v", xerr)
	}
	return xsrv
}

// proc is a running program whose output is captured.
type proc = testbin.Proc

func freeAddr(t *testing.T) string { return testbin.FreeAddr(t) }

// start runs a built program with only PATH, HOME and env, and kills it at the end of the test.
func start(t *testing.T, name string, env map[string]string) *proc {
	t.Helper()
	return testbin.Start(t, filepath.Join(binDir, name), env)
}

// startServer runs a 640x360 test-pattern server and waits until it accepts connections.
func startServer(t *testing.T) (*proc, string) {
	t.Helper()
	addr := freeAddr(t)
	p := start(t, "server", map[string]string{
		"CAPTURE_SOURCE": "testpattern", "CAPTURE_WIDTH": fmt.Sprint(streamW), "CAPTURE_HEIGHT": fmt.Sprint(streamH),
		"LISTEN_ADDR": addr, "HTTP_ADDR": freeAddr(t),
	})
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return p, addr
		}
		if !p.Running() || time.Now().After(deadline) {
			t.Fatalf("server not listening on %s", addr)
		}
	}
}

// client is a windowed client of the server at addr.
type client struct {
	*proc
	title   string
	dir     string // recording and snapshots
	rec     string
	id      uint32
	geo     image.Rectangle
	display *xtest.Server
}

func startClient(t *testing.T, x *xtest.Server, addr string) *client {
	t.Helper()
	dir := t.TempDir()
	rt := filepath.Join(dir, "xdg")
	if err := os.Mkdir(rt, 0o700); err != nil {
		t.Fatal(err)
	}
	c := &client{title: "camstream — " + addr, dir: dir, rec: filepath.Join(dir, "rec.avi"), display: x}
	c.proc = start(t, "client", map[string]string{
		"SERVER_ADDR": addr, "VIEWER_DISPLAY": "window", "DISPLAY": x.Display, "XDG_RUNTIME_DIR": rt,
		"RECORD_PATH": c.rec, "SNAPSHOT_DIR": dir,
	})
	id, err := x.FindWindow(c.title, 20*time.Second)
	if err != nil {
		t.Fatalf("%v (client exited: %v)", err, !c.Running())
	}
	c.id = id
	// The window opens before the first frame (a card) and takes the stream's size with it.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if c.geo, err = x.Geometry(id); err != nil {
			t.Fatal(err)
		}
		if c.geo.Dx() == streamW && c.geo.Dy() == streamH {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("window is %dx%d, want the stream's %dx%d", c.geo.Dx(), c.geo.Dy(), streamW, streamH)
		}
	}
	time.Sleep(500 * time.Millisecond)
	return c
}

func (c *client) grab(t *testing.T) image.Image {
	t.Helper()
	img, err := c.display.Grab(c.geo)
	if err != nil {
		t.Fatal(err)
	}
	// CAMSTREAM_TEST_GRABS=dir keeps every grab, to look at what the window showed.
	if dir := os.Getenv("CAMSTREAM_TEST_GRABS"); dir != "" {
		grabs++
		xtest.SavePNG(img, dir, fmt.Sprintf("%s-%02d.png", t.Name(), grabs))
	}
	return img
}

var grabs int

// checkRecording opens the recording with OpenCV and checks it holds 640x360 frames.
func checkRecording(t *testing.T, path string) {
	t.Helper()
	vc, err := gocv.VideoCaptureFile(path)
	if err != nil {
		t.Fatalf("open recording: %v", err)
	}
	defer vc.Close()
	m := gocv.NewMat()
	defer m.Close()
	n := 0
	for vc.Read(&m) && !m.Empty() {
		if m.Cols() != streamW || m.Rows() != streamH {
			t.Fatalf("recorded frame %d is %dx%d, want %dx%d", n, m.Cols(), m.Rows(), streamW, streamH)
		}
		n++
	}
	if n < 5 {
		t.Errorf("recording holds %d frames, want a stream's worth", n)
	}
	t.Logf("recording: %d frames of %dx%d", n, streamW, streamH)
}

func TestWindowShowsStreamAndQuits(t *testing.T) {
	x := needX(t)
	_, addr := startServer(t)
	c := startClient(t, x, addr)

	g1 := c.grab(t)
	time.Sleep(time.Second)
	g2 := c.grab(t)
	if d := xtest.Diff(g1, g2); d < 0.5 {
		t.Errorf("two grabs a second apart differ by %.2f: the window does not show the moving stream (saved %s)",
			d, xtest.SavePNG(g2, t.TempDir(), "grab.png"))
	}
	if m := xtest.Mean(g2, image.Rectangle{}); m < 20 {
		t.Errorf("the window is nearly black (mean %.0f)", m)
	}

	if err := x.Keys(c.id, "s"); err != nil {
		t.Fatal(err)
	}
	var snap string
	for deadline := time.Now().Add(5 * time.Second); snap == "" && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if m, _ := filepath.Glob(filepath.Join(c.dir, "camstream-*.png")); len(m) > 0 {
			snap = m[0]
		}
	}
	if snap == "" {
		t.Error("s saved no snapshot")
	} else if img := gocv.IMRead(snap, gocv.IMReadColor); img.Empty() || img.Cols() != streamW || img.Rows() != streamH {
		t.Errorf("snapshot %s: %dx%d, want %dx%d", snap, img.Cols(), img.Rows(), streamW, streamH)
		img.Close()
	} else {
		img.Close()
	}

	if err := x.Keys(c.id, "q"); err != nil {
		t.Fatal(err)
	}
	if code := c.Wait(5 * time.Second); code != 0 {
		t.Fatalf("after q the client's status is %d, want 0 (-1: still running)", code)
	}
	if !x.WindowGone(c.title) {
		t.Error("the window is still there after the client exited")
	}
	checkRecording(t, c.rec)
}

func TestWindowServerGoneThenSIGTERM(t *testing.T) {
	x := needX(t)
	server, addr := startServer(t)
	c := startClient(t, x, addr)
	live := xtest.Mean(c.grab(t), image.Rectangle{})

	// The server goes away: the window says so on the dimmed last frame instead of freezing it.
	server.Signal(syscall.SIGKILL)
	<-server.Done()
	time.Sleep(2 * time.Second)
	d1 := c.grab(t)
	if m := xtest.Mean(d1, image.Rectangle{}); m > live*0.7 {
		t.Errorf("server gone: window mean %.0f, live %.0f; want it dimmed (saved %s)", m, live, xtest.SavePNG(d1, t.TempDir(), "gone.png"))
	}
	if !c.Running() {
		t.Fatal("the client exited when the server went away")
	}

	c.Signal(syscall.SIGTERM)
	if code := c.Wait(5 * time.Second); code != 0 {
		t.Fatalf("after SIGTERM the client's status is %d, want 0 (-1: still running)", code)
	}
	if !x.WindowGone(c.title) {
		t.Error("the window is still there after the client exited")
	}
	checkRecording(t, c.rec)
}

func TestWindowWithoutDisplay(t *testing.T) {
	p := start(t, "client", map[string]string{"SERVER_ADDR": "127.0.0.1:9", "VIEWER_DISPLAY": "window"})
	if code := p.Wait(10 * time.Second); code != 2 {
		t.Fatalf("VIEWER_DISPLAY=window without DISPLAY: status %d, want 2 (-1: still running)", code)
	}
	out := p.Output()
	for _, want := range []string{"DISPLAY", "no usable display", "/tmp/.X11-unix"} {
		if !strings.Contains(out, want) {
			t.Errorf("the message lacks %q:\n%s", want, out)
		}
	}
}
