// Package httpe2e checks the real server binary's HTTP side end to end, with the peers people use: ffprobe and
// OpenCV's VideoCapture(url) read /stream.mjpg, promtool checks /metrics, and AUTH_TOKEN guards every endpoint
// but the probes. The server runs the built-in test pattern (CAPTURE_SOURCE=testpattern) on 127.0.0.1.
//
//	go test -v -count=1 ./test/http/
//
// A missing peer (ffprobe, python3-opencv, promtool) skips its test, or fails it under CI=true.
// CAMSTREAM_SERVER_BIN=/path/to/server tests that binary instead of building ./services/server.
package httpe2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/jpeg"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/camstream/camstream/internal/peers"
	"github.com/camstream/camstream/internal/testbin"
)

const (
	width, height = 640, 360
	captureFPS    = 15
)

// serverBin is the server binary, built once for the package.
var serverBin string

func TestMain(m *testing.M) {
	if bin := os.Getenv("CAMSTREAM_SERVER_BIN"); bin != "" {
		serverBin = bin
		os.Exit(m.Run())
	}
	testbin.Main(m, &serverBinDir, "./services/server")
}

// serverBinDir is where testbin.Main built the server.
var serverBinDir string

func serverPath() string {
	if serverBin != "" {
		return serverBin
	}
	return filepath.Join(serverBinDir, "server")
}

// environ turns env into os/exec form, on top of PATH and HOME.
func environ(env map[string]string) []string {
	out := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

func freeAddr(t *testing.T) string { return testbin.FreeAddr(t) }

// server is a running server binary.
type server struct {
	*testbin.Proc
	env  map[string]string
	url  string // http://127.0.0.1:port
	addr string // HTTP_ADDR
}

// startServer runs the server with the test pattern at 640x360, 15 fps, and extra settings ("KEY=value"), and
// waits until its /readyz answers 200 (the pattern is live).
func startServer(t *testing.T, extra ...string) *server {
	t.Helper()
	s := &server{addr: freeAddr(t)}
	s.url = "http://" + s.addr
	s.env = map[string]string{
		"CAPTURE_SOURCE": "testpattern", "CAPTURE_WIDTH": fmt.Sprint(width), "CAPTURE_HEIGHT": fmt.Sprint(height),
		"CAPTURE_FPS": fmt.Sprint(captureFPS), "LISTEN_ADDR": freeAddr(t), "HTTP_ADDR": s.addr, "LOG_LEVEL": "debug",
	}
	for _, kv := range extra {
		k, v, _ := strings.Cut(kv, "=")
		s.env[k] = v
	}
	s.Proc = testbin.Start(t, serverPath(), s.env)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(s.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s
			}
		}
		if s.Wait(0) >= 0 {
			t.Fatalf("server exited: %v", s.Cmd.ProcessState)
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not ready on %s within 30 s (last: %v)", s.url, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func status(t *testing.T, url string, hdr ...string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	resp.Body.Close() // a stream is cut here: only the status matters
	return resp.StatusCode
}

func TestFFprobeSeesMJPEG(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	if st := peers.FFprobe(t, s.url+"/stream.mjpg"); st.CodecName != "mjpeg" || st.Width != width || st.Height != height {
		t.Errorf("ffprobe: %+v, want mjpeg %dx%d", st, width, height)
	}
}

func TestOpenCVReadsAtCaptureRate(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	const seconds = 4
	res := peers.OpenCV(t, s.url+"/stream.mjpg", seconds)
	rate := float64(res.Frames) / res.Seconds
	t.Logf("OpenCV: %d frames in %.2f s (%.1f/s), shape %v", res.Frames, res.Seconds, rate, res.Shape)
	if len(res.Shape) != 3 || res.Shape[0] != height || res.Shape[1] != width || res.Shape[2] != 3 {
		t.Errorf("frame shape %v, want [%d %d 3]", res.Shape, height, width)
	}
	if rate < 0.5*captureFPS || rate > 1.5*captureFPS {
		t.Errorf("OpenCV read %.1f frames/s, want about the capture rate %d", rate, captureFPS)
	}
}

// The stream's framing, the snapshot, the status figures and /metrics of the real server.
func TestEndpoints(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/stream.mjpg", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || params["boundary"] == "" {
		t.Fatalf("stream Content-Type %q", resp.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(resp.Body, params["boundary"])
	for i := range 3 {
		p, err := mr.NextPart()
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		cfg, err := jpeg.DecodeConfig(p)
		if err != nil || cfg.Width != width || cfg.Height != height {
			t.Errorf("part %d: %+v, %v", i, cfg, err)
		}
	}

	time.Sleep(2 * time.Second) // the frame rate is measured over a few seconds
	var st struct {
		FPS     float64        `json:"fps"`
		Width   int            `json:"width"`
		Height  int            `json:"height"`
		Viewers map[string]int `json:"viewers"`
		Source  struct {
			State string `json:"state"`
			Live  bool   `json:"live"`
		} `json:"source"`
	}
	sresp, err := http.Get(s.url + "/api/status")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(sresp.Body)
	sresp.Body.Close()
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatalf("status: %v\n%s", err, body)
	}
	t.Logf("status: %s", body)
	if st.Width != width || st.Height != height || st.Source.State != "live" || !st.Source.Live || st.Viewers["http"] != 1 ||
		st.FPS < 0.5*captureFPS || st.FPS > 1.5*captureFPS {
		t.Errorf("status %+v", st)
	}
	resp.Body.Close()

	sn, err := http.Get(s.url + "/snapshot.jpg")
	if err != nil {
		t.Fatal(err)
	}
	img, err := jpeg.Decode(sn.Body)
	sn.Body.Close()
	if err != nil || img.Bounds().Dx() != width || img.Bounds().Dy() != height {
		t.Errorf("snapshot: %v", err)
	}

	if promtool, err := exec.LookPath("promtool"); err == nil {
		mresp, err := http.Get(s.url + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		metrics, _ := io.ReadAll(mresp.Body)
		mresp.Body.Close()
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = bytes.NewReader(metrics)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics: %v\n%s", err, out)
		}
		for _, want := range []string{`camstream_frames_sent_total{transport="http"}`, `camstream_frames_captured_total`} {
			if !bytes.Contains(metrics, []byte(want)) {
				t.Errorf("/metrics has no %s", want)
			}
		}
	}
}

func TestAuthToken(t *testing.T) {
	t.Parallel()
	s := startServer(t, "AUTH_TOKEN=x")
	for _, path := range []string{"/", "/stream.mjpg", "/snapshot.jpg", "/api/status", "/metrics"} {
		if code := status(t, s.url+path); code != http.StatusUnauthorized {
			t.Errorf("%s without the token: %d, want 401", path, code)
		}
		if code := status(t, s.url+path+"?token=wrong"); code != http.StatusUnauthorized {
			t.Errorf("%s with a wrong token: %d, want 401", path, code)
		}
		if code := status(t, s.url+path+"?token=x"); code != http.StatusOK {
			t.Errorf("%s?token=x: %d, want 200", path, code)
		}
		if code := status(t, s.url+path, "Authorization", "Bearer x"); code != http.StatusOK {
			t.Errorf("%s with Authorization: Bearer x: %d, want 200", path, code)
		}
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if code := status(t, s.url+path); code != http.StatusOK {
			t.Errorf("%s without the token: %d, want 200", path, code)
		}
	}
	if strings.Contains(s.Output(), "token=x") {
		t.Errorf("the server logged the token:\n%s", s.Output())
	}
}

// `server -healthcheck` (the image's HEALTHCHECK) succeeds while the server runs and fails once it stopped; an
// open MJPEG stream does not hold up a SIGTERM.
func TestHealthcheckAndStop(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	healthcheck := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, serverPath(), "-healthcheck")
		cmd.Env = environ(s.env)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	}
	if err := healthcheck(); err != nil {
		t.Errorf("server -healthcheck while running: %v", err)
	}

	resp, err := http.Get(s.url + "/stream.mjpg")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	ended := make(chan struct{})
	go func() {
		io.Copy(io.Discard, bufio.NewReader(resp.Body))
		close(ended)
	}()
	time.Sleep(500 * time.Millisecond)
	start := time.Now()
	s.Signal(syscall.SIGTERM)
	select {
	case <-s.Done():
		t.Logf("stopped %v after SIGTERM, with a stream open", time.Since(start).Round(time.Millisecond))
	case <-time.After(5 * time.Second):
		t.Fatal("server still running 5 s after SIGTERM with an MJPEG stream open")
	}
	select {
	case <-ended:
	case <-time.After(2 * time.Second):
		t.Error("the stream did not end when the server stopped")
	}
	if err := healthcheck(); err == nil {
		t.Error("server -healthcheck succeeded with the server stopped")
	}
}

// PPROF_ADDR serves Go's profiles of the running server on its own address, never on the public HTTP side.
func TestProfiles(t *testing.T) {
	pprofAddr := freeAddr(t)
	s := startServer(t, "PPROF_ADDR="+pprofAddr)
	if code := status(t, s.url+"/debug/pprof/"); code != http.StatusNotFound {
		t.Errorf("the public HTTP side serves profiles: %d", code)
	}
	resp, err := http.Get("http://" + pprofAddr + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(b), "camstream/pkg/capture") {
		t.Errorf("goroutine profile: %s\n%.500s", resp.Status, b)
	}
}
