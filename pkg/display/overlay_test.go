package display

import (
	"strings"
	"testing"
	"time"

	"github.com/camstream/camstream/internal/matcheck"
	"gocv.io/x/gocv"
)

func TestASCII(t *testing.T) {
	for in, want := range map[string]string{
		"reconnecting to host:8485… (connection refused)": "reconnecting to host:8485... (connection refused)",
		"camstream — host": "camstream - host",
		"naïve\tcafé":      "na?ve?caf?",
	} {
		if got := ascii(in); got != want {
			t.Errorf("ascii(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSplitState(t *testing.T) {
	h, d := splitState("reconnecting to h:1... (dial tcp h:1: connection refused)")
	if h != "reconnecting to h:1..." || d != "(dial tcp h:1: connection refused)" {
		t.Errorf("splitState = %q, %q", h, d)
	}
	if h, d := splitState("NO SIGNAL at server"); h != "NO SIGNAL at server" || d != "" {
		t.Errorf("splitState = %q, %q", h, d)
	}
}

// TestDrawing draws every overlay on pictures from tiny to large, in every pixel format a frame may come in:
// nothing may panic, spill or leak, and the source frame stays untouched.
func TestDrawing(t *testing.T) {
	start := matcheck.Count()
	long := strings.Repeat("reconnecting to a-very-long-host-name.example.org:8485… ", 3) + "(connection refused)"
	for _, sz := range [][2]int{{16, 12}, {160, 90}, {640, 360}, {1920, 1080}} {
		for _, typ := range []gocv.MatType{gocv.MatTypeCV8UC3, gocv.MatTypeCV8UC1, gocv.MatTypeCV8UC4} {
			src := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(200, 200, 200, 255), sz[1], sz[0], typ)
			canvas := gocv.NewMat()
			toBGR(src, &canvas)
			if canvas.Type() != gocv.MatTypeCV8UC3 || canvas.Cols() != sz[0] || canvas.Rows() != sz[1] {
				t.Fatalf("toBGR(%dx%d %s) = %dx%d %s", sz[0], sz[1], typ, canvas.Cols(), canvas.Rows(), canvas.Type())
			}
			drawStats(&canvas, Info{Live: true, State: long, FPS: 29.97, LatencyMs: 12, Dropped: 1 << 40, Width: sz[0], Height: sz[1]})
			drawStats(&canvas, Info{})
			drawState(&canvas, long, "last frame 3s ago, at 12:00:00")
			drawState(&canvas, "", "")
			drawNotice(&canvas, "snapshot FAILED: "+long)
			if m := src.Mean(); m.Val1 != 200 {
				t.Errorf("%dx%d %s: the source frame changed (mean %v)", sz[0], sz[1], typ, m.Val1)
			}
			canvas.Close()
			src.Close()
		}
	}
	matcheck.Expect(t, start)
}

func TestSnapshotFiles(t *testing.T) {
	start := matcheck.Count()
	dir := t.TempDir()
	m := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(1, 2, 3, 0), 48, 64, gocv.MatTypeCV8UC3)
	at := time.Date(2026, 11, 28, 3, 15, 0, 123e6, time.Local)
	p1, err := saveSnapshot(m, dir, at)
	if err != nil {
		t.Fatal(err)
	}
	if want := dir + "/camstream-20261128-031500.123.png"; p1 != want {
		t.Errorf("path %s, want %s", p1, want)
	}
	p2, err := saveSnapshot(m, dir, at) // same millisecond: a new name, the first file kept
	if err != nil || p2 != dir+"/camstream-20261128-031500.123-2.png" {
		t.Errorf("second snapshot: %s, %v", p2, err)
	}
	img := gocv.IMRead(p1, gocv.IMReadUnchanged)
	if img.Cols() != 64 || img.Rows() != 48 {
		t.Errorf("snapshot reads back as %dx%d", img.Cols(), img.Rows())
	}
	img.Close()
	if _, err := saveSnapshot(m, dir+"/missing", at); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing dir: %v", err)
	}
	ro := readOnlyDir(t)
	if _, err := saveSnapshot(m, ro, at); err == nil {
		t.Errorf("read-only dir %s: no error", ro)
	} else if sc := shortCause(err, ro); !strings.Contains(sc, ro) {
		t.Errorf("short cause %q does not name %s", sc, ro)
	}
	m.Close()
	matcheck.Expect(t, start)
}
