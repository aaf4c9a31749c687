package httpserve

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/camstream/camstream/pkg/encode"
)

func TestStatusJSON(t *testing.T) {
	t.Parallel()
	since := time.Now().Add(-time.Minute)
	e := newEnv(t, func(c *Config) {
		c.Status = func() SourceStatus {
			return SourceStatus{State: "live", Live: true, Source: "testpattern 320x240", Since: since,
				LastFrame: time.Now().Add(-20 * time.Millisecond), Passthrough: true}
		}
	})
	e.publish()
	resp, err := http.Get(e.url + "/stream.mjpg") // one HTTP viewer
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	go io.Copy(io.Discard, resp.Body)

	time.Sleep(1500 * time.Millisecond) // the frame rate needs a few samples
	code, h, body := get(t, nil, e.url+"/api/status")
	if code != 200 || h.Get("Content-Type") != "application/json" || !strings.Contains(h.Get("Cache-Control"), "no-store") {
		t.Fatalf("status: %d %v %s", code, h, body)
	}
	var st Status
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatalf("status JSON: %v\n%s", err, body)
	}
	t.Logf("status: %s", body)
	if st.FPS < 0.5*picFPS || st.FPS > 1.5*picFPS {
		t.Errorf("fps = %v, want about %d", st.FPS, picFPS)
	}
	if st.Width != picW || st.Height != picH || st.FrameSeq == 0 {
		t.Errorf("size %dx%d, seq %d", st.Width, st.Height, st.FrameSeq)
	}
	if st.Viewers["http"] != 1 || st.Viewers["tcp"] != 0 || st.Subscribers != 1 {
		t.Errorf("viewers %v, hub subscribers %d; want 1 http", st.Viewers, st.Subscribers)
	}
	if st.FramesSent["http"] == 0 || st.BytesSent["http"] == 0 {
		t.Errorf("frames_sent %v, bytes_sent %v", st.FramesSent, st.BytesSent)
	}
	src := st.Source
	if src.State != "live" || !src.Live || src.Description != "testpattern 320x240" || src.Since == nil || !src.Since.Equal(since) ||
		src.LastFrameAgeSeconds == nil || *src.LastFrameAgeSeconds > 1 || !st.Passthrough {
		t.Errorf("source %+v, passthrough %v", src, st.Passthrough)
	}
	if st.Version != "test" || st.UptimeSeconds <= 0 || st.Auth {
		t.Errorf("version %q, uptime %v, auth %v", st.Version, st.UptimeSeconds, st.Auth)
	}
	for _, key := range []string{`"fps"`, `"width"`, `"height"`, `"viewers"`, `"frames_dropped_total"`, `"frames_sent"`,
		`"passthrough"`, `"uptime_seconds"`, `"version"`, `"last_frame_age_seconds"`} {
		if !bytes.Contains(body, []byte(key)) {
			t.Errorf("status has no %s", key)
		}
	}
}

func TestReadyz(t *testing.T) {
	t.Parallel()
	var status atomic.Value
	set := func(s SourceStatus) { status.Store(s) }
	set(SourceStatus{State: "starting"})
	e := newEnv(t, func(c *Config) { c.Status = func() SourceStatus { return status.Load().(SourceStatus) } })
	tests := []struct {
		name   string
		status SourceStatus
		code   int
		body   string
	}{
		{"starting", SourceStatus{State: "starting"}, 503, "not ready: source is starting"},
		{"live", SourceStatus{State: "live", Live: true, LastFrame: time.Now()}, 200, "ready"},
		{"no signal", SourceStatus{State: "no signal", LastFrame: time.Now().Add(-10 * time.Second)}, 503, "source is no signal; last frame 10"},
		{"stalled", SourceStatus{State: "live", Live: true, LastFrame: time.Now().Add(-5 * time.Second)}, 503, "last frame from the source 5"},
		{"live without a frame", SourceStatus{State: "live", Live: true}, 503, "no frame from the source yet"},
	}
	for _, tc := range tests {
		set(tc.status)
		code, h, body := get(t, nil, e.url+"/readyz")
		if code != tc.code || !strings.Contains(string(body), tc.body) || !strings.Contains(h.Get("Cache-Control"), "no-store") {
			t.Errorf("%s: %d %q, want %d %q", tc.name, code, body, tc.code, tc.body)
		}
		if code, _, body := get(t, nil, e.url+"/healthz"); code != 200 || string(body) != "ok\n" {
			t.Errorf("%s: healthz %d %q", tc.name, code, body)
		}
	}
}

// Without Config.Status, readiness follows the hub's frames.
func TestReadyzFromFrames(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if code, _, body := get(t, nil, e.url+"/readyz"); code != 503 {
		t.Errorf("no frame: %d %s", code, body)
	}
	p := e.publish()
	if !waitFor(2*time.Second, func() bool { code, _, _ := get(t, nil, e.url+"/readyz"); return code == 200 }) {
		t.Error("not ready while frames come")
	}
	p.noSignal.Store(true)
	if !waitFor(2*time.Second, func() bool { code, _, _ := get(t, nil, e.url+"/readyz"); return code == 503 }) {
		t.Error("ready while the frames are NO SIGNAL cards")
	}
	p.noSignal.Store(false)
	if !waitFor(2*time.Second, func() bool { code, _, _ := get(t, nil, e.url+"/readyz"); return code == 200 }) {
		t.Error("not ready once real frames come again")
	}
	p.paused.Store(true)
	start := time.Now()
	if !waitFor(2*ReadyMaxAge, func() bool { code, _, _ := get(t, nil, e.url+"/readyz"); return code == 503 }) {
		t.Error("ready while no frame comes")
	}
	if d := time.Since(start); d < ReadyMaxAge-500*time.Millisecond {
		t.Errorf("not ready %v after the last frame, want about %v", d, ReadyMaxAge)
	}
	var st Status
	_, _, body := get(t, nil, e.url+"/api/status")
	if json.Unmarshal(body, &st); st.FPS != 0 {
		t.Errorf("fps %v with no frame for %v", st.FPS, ReadyMaxAge)
	}
}

func TestMetricsPromtool(t *testing.T) {
	t.Parallel()
	promtool := tool(t, "promtool")
	e := newEnv(t)
	e.publish()
	readStream(t, e.url+"/stream.mjpg", 5*time.Second, 3) // so that the http series exist
	code, h, body := get(t, nil, e.url+"/metrics")
	if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/plain") {
		t.Fatalf("/metrics: %d %v", code, h)
	}
	for _, want := range []string{
		`camstream_frames_sent_total{transport="http"}`,
		`camstream_sent_bytes_total{transport="http"}`,
		`camstream_viewers{transport="http"}`,
		`camstream_frames_dropped_total{transport="http"}`,
		`camstream_build_info{`,
		`go_goroutines`,
	} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("/metrics has no %s", want)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

func TestRouting(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.publish()
	for _, path := range []string{"/nope", "/stream.mjpeg", "/index.html", "/api", "/favicon.ico"} {
		if code, _, _ := get(t, nil, e.url+path); code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, code)
		}
	}
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodOptions} {
		for _, path := range []string{"/", "/stream.mjpg", "/snapshot.jpg", "/api/status", "/metrics", "/healthz"} {
			req, _ := http.NewRequest(method, e.url+path, strings.NewReader("x"))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusMethodNotAllowed || !strings.Contains(resp.Header.Get("Allow"), "GET") {
				t.Errorf("%s %s: %s, Allow %q; want 405", method, path, resp.Status, resp.Header.Get("Allow"))
			}
		}
	}
	for _, path := range []string{"/", "/snapshot.jpg", "/api/status", "/healthz", "/stream.mjpg"} {
		req, _ := http.NewRequest(http.MethodHead, e.url+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("HEAD %s: %s", path, resp.Status)
		}
	}
}

func TestFPSMeter(t *testing.T) {
	var m fpsMeter
	t0 := time.Now()
	if r := m.rate(t0); r != 0 {
		t.Errorf("no samples: %v", r)
	}
	// 25 frames a second for 10 s, sampled every 7th frame.
	var last time.Time
	for seq := uint64(1); seq <= 250; seq++ {
		last = t0.Add(time.Duration(seq) * 40 * time.Millisecond)
		if seq%7 == 0 {
			m.observe(&encode.Frame{Seq: seq, Captured: last})
		}
	}
	if r := m.rate(last); r < 24.5 || r > 25.5 {
		t.Errorf("rate = %v, want 25", r)
	}
	if r := m.rate(last.Add(500 * time.Millisecond)); r == 0 {
		t.Error("rate 0 half a second after the last sample")
	}
	if r := m.rate(last.Add(3 * time.Second)); r != 0 {
		t.Errorf("rate %v 3 s after the last frame, want 0", r)
	}
	// The publisher started over (a new sequence): the old samples are forgotten.
	m.observe(&encode.Frame{Seq: 1, Captured: last.Add(time.Second)})
	m.observe(&encode.Frame{Seq: 11, Captured: last.Add(2 * time.Second)})
	if r := m.rate(last.Add(2 * time.Second)); r < 9.9 || r > 10.1 {
		t.Errorf("rate after a restart = %v, want 10", r)
	}
}
