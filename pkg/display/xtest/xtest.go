// Package xtest runs a private X server (Xvfb) for tests of windows and drives it: find a window, read its
// geometry, grab what it shows, send it keys, close it as a window manager would.
//
// It needs the Xvfb binary (Debian package xvfb), xdotool, xwininfo (x11-utils) and import (imagemagick).
package xtest

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Server is a running Xvfb.
type Server struct {
	Display string // ":N", the value for DISPLAY
	Number  int
	cmd     *exec.Cmd
	exited  chan struct{}
}

// Require skips the test when Xvfb is not installed, except under CI=true, where it fails: CI must have it.
func Require(tb testing.TB) {
	tb.Helper()
	if err := Missing(); err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("CI=true but the X test tools are missing: %v", err)
		}
		tb.Skipf("X test tools missing: %v", err)
	}
}

// Missing names the tools this package needs that are not installed, nil when all are.
func Missing() error {
	var missing []string
	for _, b := range []string{"Xvfb", "xdotool", "xwininfo", "import"} {
		if _, err := exec.LookPath(b); err != nil {
			missing = append(missing, b)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s not found in PATH (apt-get install xvfb xdotool x11-utils imagemagick)", strings.Join(missing, ", "))
	}
	return nil
}

// Start runs `Xvfb -screen 0 1280x1024x24 -nolisten tcp` on a free display number (Xvfb picks it, -displayfd)
// and waits until it accepts connections. extra arguments are passed to Xvfb (e.g. "-auth", file).
func Start(extra ...string) (*Server, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	args := append([]string{"-displayfd", "3", "-screen", "0", "1280x1024x24", "-nolisten", "tcp"}, extra...)
	cmd := exec.Command("Xvfb", args...)
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // no stray server when a test crashes
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		w.Close()
		return nil, fmt.Errorf("start Xvfb: %w", err)
	}
	w.Close()
	s := &Server{cmd: cmd, exited: make(chan struct{})}
	go func() { cmd.Wait(); close(s.exited) }()
	line := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(r).ReadString('\n')
		line <- strings.TrimSpace(l)
	}()
	select {
	case l := <-line:
		n, err := strconv.Atoi(l)
		if err != nil {
			s.Stop()
			return nil, fmt.Errorf("Xvfb did not report its display (%q): %s", l, stderr.String())
		}
		s.Number, s.Display = n, ":"+l
	case <-time.After(20 * time.Second):
		s.Stop()
		return nil, fmt.Errorf("Xvfb did not start within 20 s: %s", stderr.String())
	}
	sock := fmt.Sprintf("/tmp/.X11-unix/X%d", s.Number)
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			return s, nil
		} else if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("Xvfb %s: socket %s: %v", s.Display, sock, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop ends the server.
func (s *Server) Stop() {
	if s.cmd.Process != nil {
		s.cmd.Process.Signal(os.Interrupt)
		select {
		case <-s.exited:
		case <-time.After(3 * time.Second):
			s.cmd.Process.Kill()
			<-s.exited
		}
	}
}

// Env returns os.Environ with DISPLAY set to this server (and WAYLAND_DISPLAY removed).
func (s *Server) Env() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DISPLAY=") && !strings.HasPrefix(kv, "WAYLAND_DISPLAY=") {
			env = append(env, kv)
		}
	}
	return append(env, "DISPLAY="+s.Display)
}

func (s *Server) run(name string, args ...string) ([]byte, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = s.Env()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// FindWindow waits up to timeout for a mapped window whose name is exactly title and returns its id.
func (s *Server) FindWindow(title string, timeout time.Duration) (uint32, error) {
	deadline := time.Now().Add(timeout)
	for {
		out, err := s.run("xdotool", "search", "--onlyvisible", "--name", "^"+regexp.QuoteMeta(title)+"$")
		if err == nil {
			if f := strings.Fields(string(out)); len(f) > 0 {
				id, err := strconv.ParseUint(f[0], 10, 32)
				if err == nil {
					return uint32(id), nil
				}
			}
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("no window named %q after %s", title, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// WindowGone reports whether no visible window named title exists.
func (s *Server) WindowGone(title string) bool {
	out, _ := s.run("xdotool", "search", "--onlyvisible", "--name", "^"+regexp.QuoteMeta(title)+"$")
	return len(strings.Fields(string(out))) == 0
}

var (
	reAbsX = regexp.MustCompile(`Absolute upper-left X:\s+(-?\d+)`)
	reAbsY = regexp.MustCompile(`Absolute upper-left Y:\s+(-?\d+)`)
	reW    = regexp.MustCompile(`Width:\s+(\d+)`)
	reH    = regexp.MustCompile(`Height:\s+(\d+)`)
)

// Geometry returns the window's rectangle on the screen (xwininfo).
func (s *Server) Geometry(id uint32) (image.Rectangle, error) {
	out, err := s.run("xwininfo", "-id", strconv.FormatUint(uint64(id), 10))
	if err != nil {
		return image.Rectangle{}, err
	}
	var v [4]int
	for i, re := range []*regexp.Regexp{reAbsX, reAbsY, reW, reH} {
		m := re.FindSubmatch(out)
		if m == nil {
			return image.Rectangle{}, fmt.Errorf("xwininfo output without %s: %s", re, out)
		}
		v[i], _ = strconv.Atoi(string(m[1]))
	}
	return image.Rect(v[0], v[1], v[0]+v[2], v[1]+v[3]), nil
}

// Grab returns what the screen shows inside r.
func (s *Server) Grab(r image.Rectangle) (image.Image, error) {
	out, err := s.run("import", "-silent", "-window", "root", "png:-")
	if err != nil {
		return nil, err
	}
	img, err := png.Decode(bytes.NewReader(out))
	if err != nil {
		return nil, fmt.Errorf("decode screen grab: %w", err)
	}
	sub, ok := img.(interface {
		SubImage(image.Rectangle) image.Image
	})
	if !ok {
		return nil, fmt.Errorf("screen grab of type %T cannot be cropped", img)
	}
	return sub.SubImage(r.Intersect(img.Bounds())), nil
}

// Keys focuses the window and types keys (xdotool key names: q, Escape, s, Left…).
func (s *Server) Keys(id uint32, keys ...string) error {
	w := strconv.FormatUint(uint64(id), 10)
	if _, err := s.run("xdotool", "windowfocus", w); err != nil {
		return err
	}
	time.Sleep(100 * time.Millisecond) // let the focus change reach the client before the keys
	_, err := s.run("xdotool", append([]string{"key", "--delay", "50"}, keys...)...)
	return err
}

// Mean returns the mean brightness (0–255) of img inside r (all of img when r is empty).
func Mean(img image.Image, r image.Rectangle) float64 {
	if r.Empty() {
		r = img.Bounds()
	}
	r = r.Intersect(img.Bounds())
	var sum, n float64
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			sum += float64(cr+cg+cb) / 3 / 257
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return sum / n
}

// Diff returns the mean absolute difference (0–255) between two images of the same size, compared from their
// top-left corners.
func Diff(a, b image.Image) float64 {
	ab, bb := a.Bounds(), b.Bounds()
	w, h := min(ab.Dx(), bb.Dx()), min(ab.Dy(), bb.Dy())
	var sum, n float64
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			r1, g1, b1, _ := a.At(ab.Min.X+x, ab.Min.Y+y).RGBA()
			r2, g2, b2, _ := b.At(bb.Min.X+x, bb.Min.Y+y).RGBA()
			sum += (absDiff(r1, r2) + absDiff(g1, g2) + absDiff(b1, b2)) / 3 / 257
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return sum / n
}

func absDiff(a, b uint32) float64 {
	if a > b {
		return float64(a - b)
	}
	return float64(b - a)
}

// SavePNG writes img to dir/name for a failing test's reader, and returns the path.
func SavePNG(img image.Image, dir, name string) string {
	p := filepath.Join(dir, name)
	f, err := os.Create(p)
	if err != nil {
		return ""
	}
	defer f.Close()
	png.Encode(f, img)
	return p
}

// CloseWindow asks window id to close the way a window manager does when the user clicks its close button:
// a WM_PROTOCOLS client message carrying WM_DELETE_WINDOW (xdotool 3.2016's windowclose destroys the window
// instead, and windowkill kills the client). The server must not require authorization (an Xvfb from Start
// does not).
func (s *Server) CloseWindow(id uint32) error {
	c, err := net.DialTimeout("unix", fmt.Sprintf("/tmp/.X11-unix/X%d", s.Number), 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	le := binary.LittleEndian
	// Connection setup, no authorization.
	if _, err := c.Write([]byte{'l', 0, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0}); err != nil {
		return err
	}
	var head [8]byte
	if _, err := io.ReadFull(c, head[:]); err != nil {
		return err
	}
	if _, err := io.CopyN(io.Discard, c, 4*int64(le.Uint16(head[6:]))); err != nil {
		return err
	}
	if head[0] != 1 {
		return errors.New("X server refused the connection")
	}
	intern := func(name string) (uint32, error) {
		n := len(name)
		p := (4 - n%4) % 4
		req := []byte{16, 0}
		req = le.AppendUint16(req, uint16((8+n+p)/4))
		req = le.AppendUint16(req, uint16(n))
		req = append(req, 0, 0)
		req = append(req, name...)
		req = append(req, make([]byte, p)...)
		if _, err := c.Write(req); err != nil {
			return 0, err
		}
		var rep [32]byte
		if _, err := io.ReadFull(c, rep[:]); err != nil {
			return 0, err
		}
		if rep[0] != 1 {
			return 0, fmt.Errorf("InternAtom %s: X error %d", name, rep[1])
		}
		return le.Uint32(rep[8:]), nil
	}
	protocols, err := intern("WM_PROTOCOLS")
	if err != nil {
		return err
	}
	del, err := intern("WM_DELETE_WINDOW")
	if err != nil {
		return err
	}
	req := []byte{25, 0} // SendEvent, propagate false
	req = le.AppendUint16(req, 11)
	req = le.AppendUint32(req, id)
	req = le.AppendUint32(req, 0)   // empty event mask: delivered to the window's creator
	req = append(req, 33, 32, 0, 0) // ClientMessage, format 32
	req = le.AppendUint32(req, id)
	req = le.AppendUint32(req, protocols)
	req = le.AppendUint32(req, del)
	req = le.AppendUint32(req, 0) // CurrentTime
	req = append(req, make([]byte, 12)...)
	if _, err := c.Write(req); err != nil {
		return err
	}
	_, err = intern("WM_DELETE_WINDOW") // a round trip: the event is sent when this returns
	return err
}
