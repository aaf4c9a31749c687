package record

import (
	"errors"
	"image"
	"image/color"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/camstream/camstream/internal/matcheck"
	"gocv.io/x/gocv"
)

func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// frame makes a w×h BGR picture that changes with i.
func frame(w, h, i int) gocv.Mat {
	m := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(float64(i*8%255), 90, 160, 0), h, w, gocv.MatTypeCV8UC3)
	gocv.Rectangle(&m, image.Rect(i*10%w, h/4, i*10%w+w/8, h/2), color.RGBA{R: 255, G: 255, B: 255}, -1)
	return m
}

// readVideo counts the frames of the file at path and checks their size.
func readVideo(t *testing.T, path string, w, h int) int {
	t.Helper()
	vc, err := gocv.VideoCaptureFile(path)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer vc.Close()
	if !vc.IsOpened() {
		t.Fatalf("OpenCV cannot open %s", path)
	}
	m := gocv.NewMat()
	defer m.Close()
	n := 0
	for vc.Read(&m) {
		if m.Empty() {
			break
		}
		if m.Cols() != w || m.Rows() != h {
			t.Fatalf("frame %d is %dx%d, want %dx%d", n, m.Cols(), m.Rows(), w, h)
		}
		n++
	}
	return n
}

func TestRecord30Frames(t *testing.T) {
	start := matcheck.Count()
	path := filepath.Join(t.TempDir(), "rec.avi")
	r := New(path, 15, testLog(t))
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("file exists before the first frame (err %v)", err)
	}
	for i := range 30 {
		m := frame(320, 240, i)
		if err := r.Write(m); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		m.Close() // Write does not take ownership
	}
	if got := r.Frames(); got != 30 {
		t.Errorf("Frames() = %d, want 30", got)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
	empty := gocv.NewMat()
	if err := r.Write(empty); !errors.Is(err, ErrClosed) {
		t.Errorf("write after close: %v, want ErrClosed", err)
	}
	empty.Close()
	if n := readVideo(t, path, 320, 240); n != 30 {
		t.Errorf("file holds %d frames, want 30", n)
	}
	matcheck.Expect(t, start)
}

func TestRecordOtherSizesAndTypes(t *testing.T) {
	start := matcheck.Count()
	path := filepath.Join(t.TempDir(), "rec.avi")
	r := New(path, 0, testLog(t)) // no fps: the default
	first := frame(320, 240, 0)
	bigger := frame(640, 360, 1)
	gray := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(128, 0, 0, 0), 240, 320, gocv.MatTypeCV8UC1)
	bgra := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(10, 20, 30, 255), 100, 100, gocv.MatTypeCV8UC4)
	for _, m := range []gocv.Mat{first, bigger, gray, bgra} {
		if err := r.Write(m); err != nil {
			t.Fatalf("write %dx%d %s: %v", m.Cols(), m.Rows(), m.Type(), err)
		}
		m.Close()
	}
	empty := gocv.NewMat()
	if err := r.Write(empty); err == nil {
		t.Error("writing an empty Mat: no error")
	}
	empty.Close()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if n := readVideo(t, path, 320, 240); n != 4 {
		t.Errorf("file holds %d frames, want 4", n)
	}
	matcheck.Expect(t, start)
}

func TestRecordCloseWithoutFrames(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rec.avi")
	r := New(path, 30, testLog(t))
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("a recorder that saw no frame left a file (stat err %v)", err)
	}
}

func TestRecordUnwritable(t *testing.T) {
	cases := map[string]string{
		"missing dir":  filepath.Join(t.TempDir(), "no", "such", "dir", "rec.avi"),
		"read-only":    filepath.Join(readOnlyDir(t), "rec.avi"),
		"no container": filepath.Join(t.TempDir(), "rec.nosuchformat"),
	}
	for name, path := range cases {
		t.Run(name, func(t *testing.T) {
			start := matcheck.Count()
			r := New(path, 30, testLog(t))
			m := frame(160, 120, 0)
			err := r.Write(m)
			if err == nil {
				t.Fatalf("write to %s: no error", path)
			}
			t.Logf("error: %v", err)
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the path %s", err, path)
			}
			if err2 := r.Write(m); err2 == nil || err2.Error() != err.Error() {
				t.Errorf("second write: %v, want the same error", err2)
			}
			if r.Frames() != 0 {
				t.Errorf("Frames() = %d after failures", r.Frames())
			}
			if err := r.Close(); err != nil {
				t.Errorf("close after a failed open: %v", err)
			}
			m.Close()
			matcheck.Expect(t, start)
		})
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
