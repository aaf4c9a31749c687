package httpserve

import (
	"bufio"
	"bytes"
	"context"
	"image/jpeg"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/camstream/camstream/internal/peers"
	"github.com/camstream/camstream/pkg/metrics"
)

func TestStreamFraming(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.publish()
	parts := readStream(t, e.url+"/stream.mjpg", 10*time.Second, 10)
	if len(parts) != 10 {
		t.Fatalf("read %d parts, want 10", len(parts))
	}
	seen := map[string]bool{}
	for _, p := range parts {
		checkPart(t, p, picW, picH)
		seq := p.header["X-Frame-Seq"][0]
		if seen[seq] {
			t.Errorf("frame %s sent twice", seq)
		}
		seen[seq] = true
	}
	// The count follows the write: wait for the last one.
	if !waitFor(2*time.Second, func() bool { return testutil.ToFloat64(e.m.FramesSent.WithLabelValues(metrics.TransportHTTP)) >= 10 }) {
		t.Errorf("frames_sent{http} = %v, want >= 10", testutil.ToFloat64(e.m.FramesSent.WithLabelValues(metrics.TransportHTTP)))
	}
	if got := testutil.ToFloat64(e.m.BytesSent.WithLabelValues(metrics.TransportHTTP)); got < float64(10*len(parts[0].body)/2) {
		t.Errorf("sent_bytes{http} = %v: too small", got)
	}
	// The viewer is gone: the gauge comes back to 0 and the subscription is released.
	if !waitFor(3*time.Second, func() bool {
		return testutil.ToFloat64(e.m.Viewers.WithLabelValues(metrics.TransportHTTP)) == 0 && e.hub.Len() == 0
	}) {
		t.Errorf("after the viewer left: viewers gauge %v, hub subscribers %d",
			testutil.ToFloat64(e.m.Viewers.WithLabelValues(metrics.TransportHTTP)), e.hub.Len())
	}
}

func TestStreamHeaders(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.publish()
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		req, _ := http.NewRequestWithContext(ctx, method, e.url+"/stream.mjpg", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 {
			t.Errorf("%s: %s", method, resp.Status)
		}
		h := resp.Header
		if ct := h.Get("Content-Type"); ct != "multipart/x-mixed-replace; boundary="+boundary {
			t.Errorf("%s: Content-Type %q", method, ct)
		}
		if cc := h.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
			t.Errorf("%s: Cache-Control %q", method, cc)
		}
		if method == http.MethodGet {
			// The body starts with the boundary line: what ffmpeg's mpjpeg demuxer probes for.
			line, err := bufio.NewReader(resp.Body).ReadString('\n')
			if err != nil || line != "--"+boundary+"\r\n" {
				t.Errorf("first line %q, %v", line, err)
			}
		}
		resp.Body.Close()
		cancel()
	}
}

func TestStreamFPSParam(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.publish()
	start := time.Now()
	parts := readStream(t, e.url+"/stream.mjpg?fps=2", 3200*time.Millisecond, 0)
	elapsed := time.Since(start).Seconds()
	// About 2 a second: the first at once, then one every 0.5 s (7 in 3.2 s); loose bounds.
	if n := len(parts); n < 4 || n > 9 {
		t.Errorf("?fps=2: %d frames in %.1f s, want about %.0f", n, elapsed, 2*elapsed)
	}
	for i := 1; i < len(parts); i++ { // none much shorter than 0.5 s
		if gap := parts[i].at.Sub(parts[i-1].at); gap < 250*time.Millisecond {
			t.Errorf("gap %d: %v, want about 500ms", i, gap)
		}
	}
	// A cap at the source's own rate must not lose frames to the source's jitter.
	p := e.publish() // a second publisher: 50 frames a second in all
	before := p.published.Load()
	parts = readStream(t, e.url+"/stream.mjpg?fps=25", 2*time.Second, 0)
	if n, published := len(parts), p.published.Load()-before; float64(n) < 0.6*float64(published) {
		t.Errorf("?fps=25: %d frames while one publisher sent %d", n, published)
	}
	for _, bad := range []string{"0", "-1", "abc", "NaN", "1e9"} {
		code, _, body := get(t, nil, e.url+"/stream.mjpg?fps="+bad)
		if code != http.StatusBadRequest {
			t.Errorf("?fps=%s: %d %s, want 400", bad, code, body)
		}
	}
}

func TestSnapshot(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.snapshotWait = 500 * time.Millisecond })
	// No frame at all: 503 after the wait.
	start := time.Now()
	code, _, body := get(t, nil, e.url+"/snapshot.jpg")
	if code != http.StatusServiceUnavailable || time.Since(start) < 400*time.Millisecond {
		t.Errorf("no frame: %d %s after %v, want 503 after the wait", code, body, time.Since(start))
	}
	// Frames without the JPEG (nobody watches): the snapshot subscribes and takes the next one.
	p := e.publish()
	waitFor(2*time.Second, func() bool { return p.published.Load() > 2 })
	for i := range 2 { // the second time the latest frame may already carry the JPEG
		code, h, body := get(t, nil, e.url+"/snapshot.jpg")
		if code != 200 {
			t.Fatalf("snapshot %d: %d %s", i, code, describe(body))
		}
		if h.Get("Content-Type") != "image/jpeg" || !strings.Contains(h.Get("Cache-Control"), "no-store") || h.Get("X-Frame-Seq") == "" {
			t.Errorf("snapshot headers: %v", h)
		}
		img, err := jpeg.Decode(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("snapshot is not a JPEG: %v", err)
		}
		if b := img.Bounds(); b.Dx() != picW || b.Dy() != picH {
			t.Errorf("snapshot is %v, want %dx%d", b, picW, picH)
		}
		r, g, b, _ := img.At(5, 5).RGBA()
		if r>>8 < 180 || g>>8 > 80 || b>>8 < 120 {
			t.Errorf("snapshot corner colour %d,%d,%d: not the test picture", r>>8, g>>8, b>>8)
		}
	}
	// With a viewer, the latest frame carries the JPEG: the snapshot answers without waiting for a frame.
	resp, err := http.Get(e.url + "/stream.mjpg")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	go io.Copy(io.Discard, resp.Body)
	waitFor(2*time.Second, func() bool { fr, _ := e.hub.Latest(); _, ok := fr.Get(testJPEG); return ok })
	if code, h, body := get(t, nil, e.url+"/snapshot.jpg"); code != 200 || h.Get("Content-Length") == "" || len(body) == 0 {
		t.Errorf("snapshot: %d, %v", code, h)
	}
}

func TestMaxViewers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.MaxViewers = 1 })
	e.publish()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.url+"/stream.mjpg", nil)
	first, err := http.DefaultClient.Do(req)
	if err != nil || first.StatusCode != 200 {
		t.Fatalf("first viewer: %v %v", first, err)
	}
	code, h, body := get(t, nil, e.url+"/stream.mjpg")
	if code != http.StatusServiceUnavailable || !strings.Contains(string(body), "maximum of 1 HTTP stream viewers") || h.Get("Retry-After") == "" {
		t.Errorf("second viewer: %d %q %v", code, body, h)
	}
	if got := testutil.ToFloat64(e.m.Refused.WithLabelValues("max_http_viewers")); got != 1 {
		t.Errorf("refused{max_http_viewers} = %v", got)
	}
	// Snapshots are not stream viewers.
	if code, _, _ := get(t, nil, e.url+"/snapshot.jpg"); code != 200 {
		t.Errorf("snapshot at the viewer limit: %d", code)
	}
	cancel()
	first.Body.Close()
	if !waitFor(3*time.Second, func() bool { return e.srv.viewers.Load() == 0 }) {
		t.Fatal("the first viewer's place was not released")
	}
	parts := readStream(t, e.url+"/stream.mjpg", 5*time.Second, 2)
	if len(parts) != 2 {
		t.Errorf("viewer after the first left: %d parts", len(parts))
	}
}

// A viewer that connects and never reads must neither slow the others down nor stay forever.
func TestSlowViewer(t *testing.T) {
	t.Parallel()
	const writeTimeout = 2 * time.Second
	e := newEnv(t, func(c *Config) { c.WriteTimeout = writeTimeout })
	// Large frames (noise), so the kernel's buffers fill within a second or so.
	frames := makeFrames(t, 640, 480, 4, 95, true)
	t.Logf("frame size %d KiB", len(frames[0])/1024)
	p := startPublisher(t, e.hub, testJPEG, frames, 640, 480, picFPS)
	gauge := e.m.Viewers.WithLabelValues(metrics.TransportHTTP)

	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.(*net.TCPConn).SetReadBuffer(4096)
	io.WriteString(c, "GET /stream.mjpg HTTP/1.1\r\nHost: camstream\r\n\r\n") // and never read
	if !waitFor(3*time.Second, func() bool { return testutil.ToFloat64(gauge) == 1 }) {
		t.Fatal("the slow viewer did not become a viewer")
	}

	before := p.published.Load()
	start := time.Now()
	parts := readStream(t, e.url+"/stream.mjpg", 3*time.Second, 0)
	published := p.published.Load() - before
	t.Logf("fast viewer: %d frames of %d published in %v", len(parts), published, time.Since(start).Round(time.Millisecond))
	if float64(len(parts)) < 0.6*float64(published) {
		t.Errorf("fast viewer got %d frames of %d published while a slow viewer was connected", len(parts), published)
	}

	// The slow viewer is dropped once a write has not completed for writeTimeout.
	if !waitFor(20*time.Second, func() bool { return testutil.ToFloat64(gauge) == 0 }) {
		t.Fatalf("slow viewer still connected: viewers gauge %v", testutil.ToFloat64(gauge))
	}
	if got := testutil.ToFloat64(e.m.Refused.WithLabelValues("slow")); got != 1 {
		t.Errorf("refused{slow} = %v, want 1", got)
	}
	if got := testutil.ToFloat64(e.m.FramesDropped.WithLabelValues(metrics.TransportHTTP)); got == 0 {
		t.Error("frames_dropped{http} = 0: the slow viewer's skipped frames were not counted")
	}
	if !strings.Contains(e.logs.String(), "http viewer stopped reading; dropped") {
		t.Errorf("no log line about the slow viewer:\n%s", e.logs.String())
	}
}

func TestShutdownEndsStreams(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.publish()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := New(Config{Hub: e.hub, JPEG: testJPEG, Metrics: e.m, Log: e.srv.log})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	resp, err := http.Get("http://" + ln.Addr().String() + "/stream.mjpg")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	read := make(chan error, 1)
	go func() { _, err := io.Copy(io.Discard, resp.Body); read <- err }()
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Serve did not return within 3 s")
	}
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Errorf("shutdown took %v, want about 1 s at most", d)
	}
	select {
	case <-read:
	case <-time.After(2 * time.Second):
		t.Error("the stream did not end at shutdown")
	}
	if _, err := http.Get("http://" + ln.Addr().String() + "/healthz"); err == nil {
		t.Error("still serving after shutdown")
	}
}

func TestFFprobeReadsStream(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.publish()
	if st := peers.FFprobe(t, e.url+"/stream.mjpg"); st.CodecName != "mjpeg" || st.Width != picW || st.Height != picH {
		t.Errorf("ffprobe: %+v, want mjpeg %dx%d", st, picW, picH)
	}
}

func TestOpenCVReadsStream(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.publish()
	const seconds = 4.0
	res := peers.OpenCV(t, e.url+"/stream.mjpg", seconds)
	t.Logf("OpenCV: %d frames in %.2f s, shape %v, mean BGR %.0f", res.Frames, res.Seconds, res.Shape, res.MeanBGR)
	if len(res.Shape) != 3 || res.Shape[0] != picH || res.Shape[1] != picW || res.Shape[2] != 3 {
		t.Errorf("frame shape %v, want [%d %d 3]", res.Shape, picH, picW)
	}
	if rate := float64(res.Frames) / res.Seconds; rate < 0.5*picFPS {
		t.Errorf("OpenCV read %.1f frames/s, want at least half of the %d published", rate, picFPS)
	}
	// Mostly the test picture's magenta (B high, G low, R high).
	if m := res.MeanBGR; len(m) != 3 || m[0] < 110 || m[1] > 90 || m[2] < 150 {
		t.Errorf("mean colour (BGR) %v: not the test picture", m)
	}
}

func TestAppendTimestamp(t *testing.T) {
	for _, tc := range []struct {
		t    time.Time
		want string
	}{
		{time.Unix(1700000000, 123456789), "1700000000.123456"},
		{time.Unix(1700000000, 5000), "1700000000.000005"},
		{time.Unix(1, 0), "1.000000"},
	} {
		if got := string(appendTimestamp([]byte("x"), tc.t)); got != "x"+tc.want {
			t.Errorf("appendTimestamp(%v) = %q, want %q", tc.t, got, "x"+tc.want)
		}
	}
}
