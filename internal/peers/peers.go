// Package peers runs the real third-party clients the tests check the HTTP side against -- ffprobe and Debian's
// python3-opencv -- on a stream URL and returns what they saw. A missing tool skips the test, or fails it under
// CI=true (where scripts/install-deps.sh should have installed it).
package peers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// Missing skips the test, or fails it under CI=true.
func Missing(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(why + " (scripts/install-deps.sh installs it)")
	}
	t.Skip(why)
}

// Tool returns the path of the first of names installed, or calls Missing.
func Tool(t testing.TB, names ...string) string {
	t.Helper()
	for _, name := range names {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	Missing(t, fmt.Sprintf("%s not installed", names[0]))
	return ""
}

// Stream is what ffprobe reports of a video stream.
type Stream struct {
	CodecName string `json:"codec_name"`
	Width     int    `json:"width"`
	Height    int    `json:"height"`
}

// FFprobe runs plain "ffprobe URL" (no -f option: the demuxer is found from the Content-Type) and returns the
// first video stream; it fails the test unless ffprobe finds exactly one.
func FFprobe(t testing.TB, url string) Stream {
	t.Helper()
	ffprobe := Tool(t, "ffprobe")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, ffprobe, "-v", "error", "-select_streams", "v:0",
		"-show_entries", "stream=codec_name,width,height", "-of", "json", url).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe: %v\n%s", err, out)
	}
	var res struct {
		Streams []Stream `json:"streams"`
	}
	if err := json.Unmarshal(out, &res); err != nil || len(res.Streams) != 1 {
		t.Fatalf("ffprobe output %s: %v", out, err)
	}
	return res.Streams[0]
}

// cvScript reads frames with cv2.VideoCapture(url) (OpenCV's FFmpeg backend) for a few seconds and prints what it
// got as JSON.
const cvScript = `import json, sys, time
import cv2
url, seconds = sys.argv[1], float(sys.argv[2])
cap = cv2.VideoCapture(url, cv2.CAP_FFMPEG)
if not cap.isOpened():
    print(json.dumps({"error": "VideoCapture did not open the URL"}))
    sys.exit(2)
ok, frame = cap.read()
if not ok:
    print(json.dumps({"error": "first read failed"}))
    sys.exit(3)
n, start = 0, time.monotonic()
while time.monotonic() - start < seconds:
    ok, frame = cap.read()
    if not ok:
        break
    n += 1
elapsed = time.monotonic() - start
cap.release()
print(json.dumps({"frames": n, "seconds": elapsed, "shape": list(frame.shape),
                  "mean_bgr": [float(frame[:, :, i].mean()) for i in range(3)]}))
`

// CVResult is what OpenCV read: frames after the first, in how long, the last frame's shape and mean colour.
type CVResult struct {
	Error   string    `json:"error"`
	Frames  int       `json:"frames"`
	Seconds float64   `json:"seconds"`
	Shape   []int     `json:"shape"`
	MeanBGR []float64 `json:"mean_bgr"`
}

// cvPython returns a python3 that has cv2 (Debian's python3-opencv is for /usr/bin/python3), or calls Missing.
func cvPython(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"/usr/bin/python3", "python3"} {
		p, err := exec.LookPath(name)
		if err == nil && exec.Command(p, "-c", "import cv2").Run() == nil {
			return p
		}
	}
	Missing(t, "no python3 with cv2 (python3-opencv) installed")
	return ""
}

// OpenCV reads url with cv2.VideoCapture for seconds; it fails the test if OpenCV cannot open or read it.
func OpenCV(t testing.TB, url string, seconds float64) CVResult {
	t.Helper()
	py := cvPython(t)
	script := filepath.Join(t.TempDir(), "read_stream.py")
	if err := os.WriteFile(script, []byte(cvScript), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(seconds*float64(time.Second))+60*time.Second)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, py, script, url, strconv.FormatFloat(seconds, 'f', -1, 64))
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var res CVResult
	if jerr := json.Unmarshal(out, &res); jerr != nil || err != nil || res.Error != "" {
		t.Fatalf("OpenCV: %v, %v, %s\nstderr: %s", err, jerr, out, stderr.String())
	}
	return res
}
