package httpserve

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"log/slog"
	"math/rand/v2"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/camstream/camstream/internal/peers"
	"github.com/camstream/camstream/pkg/encode"
	"github.com/camstream/camstream/pkg/fanout"
	"github.com/camstream/camstream/pkg/metrics"
	"github.com/camstream/camstream/pkg/wire"
)

// The test picture: mostly this magenta (the screenshot and OpenCV tests look for it), with a dark bar moving
// across and a white square moving down, so consecutive frames differ.
var picColor = color.RGBA{R: 224, G: 32, B: 160, A: 255}

const (
	picW, picH = 320, 240
	picFPS     = 25
)

var testJPEG = encode.Format{Codec: wire.CodecJPEG, Quality: 80}

// makeFrames encodes n frames of the moving test picture; with noise every pixel gets random noise, which makes
// the JPEGs large (for the slow-viewer test).
func makeFrames(t testing.TB, w, h, n, quality int, noise bool) [][]byte {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	out := make([][]byte, n)
	for i := range n {
		img := image.NewRGBA(image.Rect(0, 0, w, h))
		barX := i * w / n
		sqY := i * (h - h/6) / n
		for y := range h {
			for x := range w {
				c := picColor
				if x >= barX && x < barX+w/10 {
					c = color.RGBA{R: 20, G: 30, B: 90, A: 255}
				}
				if x >= w/2-h/12 && x < w/2+h/12 && y >= sqY && y < sqY+h/6 {
					c = color.RGBA{R: 250, G: 250, B: 250, A: 255}
				}
				if noise {
					d := uint8(rng.IntN(64))
					c.R, c.G, c.B = c.R^d, c.G^d, c.B^d
				}
				img.SetRGBA(x, y, c)
			}
		}
		var b bytes.Buffer
		if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: quality}); err != nil {
			t.Fatal(err)
		}
		out[i] = b.Bytes()
	}
	return out
}

// publisher stands in for the capture loop: it publishes a frame every 1/fps s, with the JPEG only when a
// subscriber uses its format (as the server encodes only the formats in use).
type publisher struct {
	hub       *encode.Hub
	format    encode.Format
	frames    [][]byte
	w, h      int
	noSignal  atomic.Bool
	paused    atomic.Bool
	published atomic.Uint64
	stop      func()
}

func startPublisher(t testing.TB, hub *encode.Hub, format encode.Format, frames [][]byte, w, h int, fps float64) *publisher {
	p := &publisher{hub: hub, format: format, frames: frames, w: w, h: h}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Duration(float64(time.Second) / fps))
		defer tick.Stop()
		var seq uint64
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if p.paused.Load() {
				continue
			}
			seq++
			fr := &encode.Frame{Seq: seq, Captured: time.Now(), Width: w, Height: h, NoSignal: p.noSignal.Load()}
			for _, k := range hub.Keys() {
				if k == format {
					payload := frames[int(seq)%len(frames)]
					fr.Encodings = append(fr.Encodings, encode.Encoded{Format: k, Msg: payload, Payload: payload})
				}
			}
			hub.Publish(fr)
			p.published.Add(1)
		}
	}()
	p.stop = func() { cancel(); <-done }
	t.Cleanup(p.stop)
	return p
}

// syncBuffer is a bytes.Buffer for a logger written from many goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// env is a Server listening on 127.0.0.1 with a test hub, metrics and a captured log.
type env struct {
	t    testing.TB
	srv  *Server
	url  string // http(s)://127.0.0.1:port
	addr string
	hub  *encode.Hub
	m    *metrics.Metrics
	logs *syncBuffer
}

func newEnv(t testing.TB, opts ...func(*Config)) *env {
	t.Helper()
	e := &env{t: t, hub: fanout.New[encode.Format, *encode.Frame](0), m: metrics.New("test"), logs: &syncBuffer{}}
	cfg := Config{
		Addr:         "127.0.0.1:0",
		Hub:          e.hub,
		JPEG:         testJPEG,
		Metrics:      e.m,
		WriteTimeout: 2 * time.Second,
		Version:      "test",
		Log:          slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, o := range opts {
		o(&cfg)
	}
	e.srv = New(cfg)
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		t.Fatal(err)
	}
	e.addr = ln.Addr().String()
	e.url = "http://" + e.addr
	if cfg.TLS != nil {
		e.url = "https://" + e.addr
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("Serve did not return within 5 s of its context's end")
		}
		if t.Failed() {
			t.Logf("server log:\n%s", e.logs.String())
		}
	})
	return e
}

// publish starts the test publisher with the 320x240 moving picture at 25 fps.
func (e *env) publish() *publisher {
	return startPublisher(e.t, e.hub, testJPEG, testFrames(e.t), picW, picH, picFPS)
}

var (
	testFramesOnce sync.Once
	testFramesData [][]byte
)

func testFrames(t testing.TB) [][]byte {
	testFramesOnce.Do(func() { testFramesData = makeFrames(t, picW, picH, picFPS, 85, false) })
	return testFramesData
}

// get does a GET with optional headers and returns the status, headers and body.
func get(t testing.TB, client *http.Client, url string, hdr ...string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: body: %v", url, err)
	}
	return resp.StatusCode, resp.Header, body
}

// part is one picture of an MJPEG stream.
type part struct {
	at     time.Time
	header map[string][]string
	body   []byte
}

// readStream reads /stream.mjpg parts with Go's multipart reader (a strict check of the framing) until d has
// passed or max parts were read (0 = no limit), then closes the connection.
func readStream(t testing.TB, url string, d time.Duration, max int, hdr ...string) []part {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %s: %s", url, resp.Status, b)
	}
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/x-mixed-replace" || params["boundary"] == "" {
		t.Fatalf("Content-Type %q: %v", resp.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(resp.Body, params["boundary"])
	var parts []part
	for max == 0 || len(parts) < max {
		p, err := mr.NextPart()
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, io.EOF) {
				t.Errorf("part %d: %v", len(parts), err)
			}
			break
		}
		body, err := io.ReadAll(p)
		if err != nil {
			if ctx.Err() == nil {
				t.Errorf("part %d body: %v", len(parts), err)
			}
			break
		}
		parts = append(parts, part{at: time.Now(), header: p.Header, body: body})
	}
	return parts
}

// checkPart checks a part's headers against its body and decodes the JPEG.
func checkPart(t testing.TB, p part, w, h int) {
	t.Helper()
	if ct := p.header["Content-Type"]; len(ct) != 1 || ct[0] != "image/jpeg" {
		t.Errorf("part Content-Type = %q", ct)
	}
	if cl := p.header["Content-Length"]; len(cl) != 1 || cl[0] != strconv.Itoa(len(p.body)) {
		t.Errorf("part Content-Length = %q, body has %d bytes", cl, len(p.body))
	}
	if ts := p.header["X-Timestamp"]; len(ts) != 1 {
		t.Errorf("part X-Timestamp = %q", ts)
	} else if f, err := strconv.ParseFloat(ts[0], 64); err != nil || time.Since(time.Unix(int64(f), 0)) > time.Minute {
		t.Errorf("part X-Timestamp = %q: not a recent Unix time", ts[0])
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(p.body))
	if err != nil {
		t.Errorf("part is not a JPEG: %v", err)
		return
	}
	if cfg.Width != w || cfg.Height != h {
		t.Errorf("part is %dx%d, want %dx%d", cfg.Width, cfg.Height, w, h)
	}
}

// tool returns the path of the first of names installed; none skips the test (fails it under CI=true).
func tool(t testing.TB, names ...string) string { return peers.Tool(t, names...) }

// waitFor polls cond every 50 ms until it holds or d has passed.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func describe(b []byte) string {
	if len(b) > 300 {
		return fmt.Sprintf("%q… (%d bytes)", b[:300], len(b))
	}
	return fmt.Sprintf("%q", b)
}
