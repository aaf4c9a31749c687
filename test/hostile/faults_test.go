package hostile

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/camstream/camstream/pkg/wire"
)

// ---------------------------------------------------------------------------------------------------------------
// The source fails mid-stream

// mjpegSource is an HTTP camera made by the test: multipart/x-mixed-replace JPEGs at 30 fps, which OpenCV's FFmpeg
// backend opens like an IP camera's /video.mjpg. It can go away (the streams in progress end, new requests get
// 503) and come back at the same address, and stall (streams kept open, nothing sent). It keeps its port
// throughout, so no other test can take it in between.
type mjpegSource struct {
	addr string
	srv  *http.Server
	wg   sync.WaitGroup

	mu      sync.Mutex
	gone    chan struct{}            // closed while the camera is away
	stalled chan struct{}            // closed while the camera sends; open while it stalls
	auth    func(*http.Request) bool // nil = no authentication
	picture []byte                   // the JPEG sent as every frame; nil = testJPEG()
}

// newMJPEGSource starts a camera; configure (if any) sets it up before it serves.
func newMJPEGSource(t testing.TB, configure ...func(*mjpegSource)) *mjpegSource {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &mjpegSource{addr: l.Addr().String(), gone: make(chan struct{}), stalled: make(chan struct{})}
	close(s.stalled)
	for _, f := range configure {
		f(s)
	}
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serve)}
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.srv.Serve(l) }()
	t.Cleanup(func() { s.srv.Close(); s.wg.Wait() })
	return s
}

func (s *mjpegSource) url() string { return "http://" + s.addr + "/cam.mjpg" }

// stop makes the camera go away: its streams end and it refuses new ones, until start.
func (s *mjpegSource) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.gone:
	default:
		close(s.gone)
	}
}

// start brings the camera back.
func (s *mjpegSource) start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.gone:
		s.gone = make(chan struct{})
	default:
	}
}

// stall stops sending without closing anything, until resume.
func (s *mjpegSource) stall() {
	s.mu.Lock()
	s.stalled = make(chan struct{})
	s.mu.Unlock()
}

func (s *mjpegSource) resume() {
	s.mu.Lock()
	close(s.stalled)
	s.mu.Unlock()
}

func (s *mjpegSource) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	gone := s.gone
	s.mu.Unlock()
	select {
	case <-gone:
		http.Error(w, "503 camera unavailable", http.StatusServiceUnavailable)
		return
	default:
	}
	if s.auth != nil && !s.auth(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="camera"`)
		http.Error(w, "401 unauthorized", http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Type", "multipart/x-mixed-replace; boundary=frame")
	t := time.NewTicker(33 * time.Millisecond)
	defer t.Stop()
	for {
		s.mu.Lock()
		flowing := s.stalled
		s.mu.Unlock()
		select {
		case <-r.Context().Done():
			return
		case <-gone:
			return
		case <-flowing:
		}
		select {
		case <-r.Context().Done():
			return
		case <-gone:
			return
		case <-t.C:
		}
		j := s.picture
		if j == nil {
			j = testJPEG()
		}
		if _, err := fmt.Fprintf(w, "--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n", len(j)); err != nil {
			return
		}
		w.Write(j)
		io.WriteString(w, "\r\n")
		w.(http.Flusher).Flush()
	}
}

// The server's camera (an HTTP MJPEG stream) goes away mid-stream (its stream ends, then it answers 503), and later
// stalls without closing: each time a watching viewer gets NO SIGNAL cards instead of nothing, stays connected, and
// gets live frames again when the camera is back — without anyone restarting anything.
func TestSourceFailsMidStream(t *testing.T) {
	cam := newMJPEGSource(t)
	srv := startServer(t, map[string]string{"CAPTURE_SOURCE": cam.url()})
	w := watch(t, srv.addr, wire.Hello{Codec: wire.CodecJPEG})

	phase := func(name string, noSignal bool, n int, d time.Duration) {
		t.Helper()
		if !waitFor(d, func() bool {
			rs := w.Runs()
			return len(rs) > 0 && rs[len(rs)-1].noSignal == noSignal && rs[len(rs)-1].n >= n
		}) {
			t.Fatalf("%s: no %d frames with NoSignal=%v within %v; runs so far %+v", name, n, noSignal, d, w.Runs())
		}
	}
	phase("camera live", false, 30, 20*time.Second)

	cam.stop()
	phase("camera gone", true, 3, 10*time.Second)
	if up := srv.mustMetrics(t)["camstream_source_up"]; up != 0 {
		t.Errorf("camstream_source_up = %v while the camera is gone", up)
	}
	cam.start()
	phase("camera back", false, 30, 20*time.Second)

	cam.stall()
	phase("camera stalled", true, 3, 15*time.Second)
	cam.resume()
	phase("camera resumed", false, 30, 20*time.Second)

	if err := w.Err(); err != nil {
		t.Errorf("the viewer was disconnected: %v", err)
	}
	if up := srv.mustMetrics(t)["camstream_source_up"]; up != 1 {
		t.Errorf("camstream_source_up = %v after the camera came back", up)
	}
	if n := len(logs(srv.proc, "capture: live again")); n != 2 {
		t.Errorf("server logged %d returns of the camera, want 2", n)
	}
	t.Logf("runs of frames (live / NO SIGNAL): %+v", w.Runs())
}

// A camera whose pictures are larger than the protocol allows (DCI 8K, 8192 x 4320, is wider than 7680) is a fault
// like any other: the server says so once — not once per frame — and viewers are not left without frames (the NO
// SIGNAL card, or the pictures scaled down).
func TestSourceBeyondMaxResolution(t *testing.T) {
	cam := newMJPEGSource(t, func(s *mjpegSource) { s.picture = jpegClaiming(8192, 4320) })
	srv := startServer(t, map[string]string{"CAPTURE_SOURCE": cam.url()})
	w := watch(t, srv.addr, wire.Hello{Codec: wire.CodecJPEG})
	// Long enough for the camera to be opened (the FFmpeg probe) and a few seconds of its frames.
	if !waitFor(15*time.Second, func() bool { return strings.Contains(srv.Output(), "capture: live") }) {
		t.Fatal("the server never read the camera")
	}
	m := w.mark()
	got := w.waitFrames(m, 3, 5*time.Second)
	var errs []string
	for _, l := range logs(srv.proc, "") {
		if l.str("level") == "ERROR" || l.str("level") == "WARN" {
			errs = append(errs, l.str("msg")+": "+l.str("err"))
		}
	}
	if len(errs) > 3 {
		t.Errorf("the oversized camera was logged %d times in a few seconds, want once: %q …", len(errs), errs[:3])
	}
	if !got {
		t.Errorf("the viewer got %d frames in 5 s from a camera sending 30 oversized pictures a second, "+
			"want NO SIGNAL cards or scaled pictures", w.mark().n-m.n)
	}
}

// ---------------------------------------------------------------------------------------------------------------
// The server is killed

// Three headless clients watch a server that is killed with SIGKILL (no goodbye, no FIN from a shutdown path) and
// started again on the same address: each resumes on its own, without being restarted.
func TestClientsResumeAfterServerKill(t *testing.T) {
	srv := startServer(t, nil)
	var clients []*proc
	for i := 0; i < 3; i++ {
		clients = append(clients, start(t, "client", map[string]string{"SERVER_ADDR": srv.addr, "VIEWER_DISPLAY": "none",
			"LOG_FORMAT": "json", "STATS_INTERVAL": "200ms"}, startOpts{}))
	}
	for i, c := range clients {
		if !waitFor(15*time.Second, func() bool { return statsFrames(c, "json") >= 30 }) {
			t.Fatalf("client %d received no frames", i)
		}
	}
	for round := 1; round <= 2; round++ {
		srv.Kill()
		time.Sleep(time.Second) // the clients notice and start backing off
		before := make([]float64, len(clients))
		for i, c := range clients {
			before[i] = statsFrames(c, "json")
		}
		srv = startServer(t, map[string]string{"LISTEN_ADDR": srv.addr, "HTTP_ADDR": srv.httpAddr})
		for i, c := range clients {
			if !waitFor(30*time.Second, func() bool { return statsFrames(c, "json") >= before[i]+30 }) {
				t.Errorf("round %d: client %d did not resume (frames %v, before the restart %v)", round, i, statsFrames(c, "json"), before[i])
			}
			if !c.Running() {
				t.Errorf("client %d exited", i)
			}
		}
	}
	for i, c := range clients {
		if n := len(logs(c, "connected")); n < 3 {
			t.Errorf("client %d logged %d connections, want 3", i, n)
		}
	}
}

// ---------------------------------------------------------------------------------------------------------------
// The network path goes silent

// proxy forwards TCP connections to target; paused, it stops forwarding in both directions without closing
// anything, like a network path that silently drops every packet.
type proxy struct {
	addr, target string
	l            net.Listener
	mu           sync.Mutex
	cond         *sync.Cond
	paused       bool
	closed       bool
	conns        map[net.Conn]bool
	wg           sync.WaitGroup
}

func startProxy(t *testing.T, target string) *proxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{addr: l.Addr().String(), target: target, l: l, conns: map[net.Conn]bool{}}
	p.cond = sync.NewCond(&p.mu)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() { defer p.wg.Done(); p.forward(c) }()
		}
	}()
	t.Cleanup(p.close)
	return p
}

func (p *proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return false
	}
	p.conns[c] = true
	return true
}

// wait blocks while the proxy is paused; it reports false once the proxy is closed.
func (p *proxy) wait() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.paused && !p.closed {
		p.cond.Wait()
	}
	return !p.closed
}

func (p *proxy) forward(c net.Conn) {
	if !p.track(c) || !p.wait() { // a connection made while paused goes nowhere until resumed
		return
	}
	up, err := net.DialTimeout("tcp", p.target, 2*time.Second)
	if err != nil {
		c.Close()
		return
	}
	if !p.track(up) {
		c.Close()
		return
	}
	var wg sync.WaitGroup
	wg.Add(2)
	pipe := func(dst, src net.Conn) {
		defer wg.Done()
		buf := make([]byte, 32<<10)
		for {
			if !p.wait() {
				return
			}
			n, err := src.Read(buf)
			if n > 0 {
				if !p.wait() {
					return
				}
				if _, werr := dst.Write(buf[:n]); werr != nil {
					err = werr
				}
			}
			if err != nil {
				c.Close()
				up.Close()
				return
			}
		}
	}
	go pipe(up, c)
	go pipe(c, up)
	wg.Wait()
}

func (p *proxy) pause(on bool) {
	p.mu.Lock()
	p.paused = on
	p.cond.Broadcast()
	p.mu.Unlock()
}

func (p *proxy) close() {
	p.mu.Lock()
	p.closed = true
	p.cond.Broadcast()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.l.Close()
	p.wg.Wait()
}

// The path between a client and the server goes silent without a close. Both ends notice by the heartbeat within
// about three intervals — the client logs a disconnect, the server drops the viewer — and when the path forwards
// again the client reconnects through it on its own.
func TestSilentNetworkPath(t *testing.T) {
	srv := startServer(t, map[string]string{"HEARTBEAT_INTERVAL": "1s"})
	px := startProxy(t, srv.addr)
	cli := start(t, "client", map[string]string{"SERVER_ADDR": px.addr, "VIEWER_DISPLAY": "none", "LOG_FORMAT": "json",
		"STATS_INTERVAL": "200ms"}, startOpts{})
	if !waitFor(15*time.Second, func() bool { return statsFrames(cli, "json") >= 30 }) {
		t.Fatal("client received no frames through the proxy")
	}

	px.pause(true)
	silentSince := time.Now()
	var disc logLine
	if !waitFor(15*time.Second, func() bool {
		ls := logs(cli, "disconnected; reconnecting with backoff")
		if len(ls) > 0 {
			disc = ls[0]
		}
		return disc != nil
	}) {
		t.Fatal("client did not notice the silent path within 15 s")
	}
	at, _ := time.Parse(time.RFC3339Nano, disc.str("time"))
	took := at.Sub(silentSince)
	t.Logf("client noticed after %v: %s", took.Round(time.Millisecond), disc.str("err"))
	if !strings.Contains(disc.str("err"), "silent") {
		t.Errorf("client's disconnect reason %q, want the server's silence", disc.str("err"))
	}
	if took > 6*time.Second { // 3 heartbeats of 1 s, with room for a slow machine
		t.Errorf("client took %v to notice the silence, want about 3 heartbeat intervals (3 s)", took)
	}
	// The server, which hears nothing either, drops the viewer.
	if !waitFor(15*time.Second, func() bool { return srv.mustMetrics(t)[`camstream_viewers{transport="tcp"}`] == 0 }) {
		t.Error("server kept the viewer whose path went silent")
	}
	var reasons []string
	for _, l := range logs(srv.proc, "viewer disconnected") {
		reasons = append(reasons, l.str("reason"))
	}
	if len(reasons) == 0 || !strings.Contains(reasons[0], "silent") && !strings.Contains(reasons[0], "timed out") {
		t.Errorf("server's reasons for dropping the viewer %q, want silence or a write timeout", reasons)
	}

	before := statsFrames(cli, "json")
	px.pause(false)
	if !waitFor(30*time.Second, func() bool { return statsFrames(cli, "json") >= before+30 }) {
		t.Fatalf("client did not receive again after the path came back (frames %v)", statsFrames(cli, "json"))
	}
	if n := len(logs(cli, "connected")); n < 2 {
		t.Errorf("client logged %d connections, want a reconnection", n)
	}
}

// ---------------------------------------------------------------------------------------------------------------
// The disk for recordings is full or read-only

// A recording that cannot be written — no such directory, a read-only file system, a disk that is full from the
// start or fills up during the recording — is reported once, while streaming, with a clear error naming the file;
// the stream goes on (the stats keep counting frames), and at the end the recording is not reported as saved.
func TestRecordingDiskFaults(t *testing.T) {
	mounts := func(t *testing.T, opts string) (wrap []string, dir string) {
		t.Helper()
		if _, err := exec.LookPath("unshare"); err != nil {
			t.Skip("unshare not installed")
		}
		dir = t.TempDir()
		// A private mount namespace: the mount is the client's alone and goes away with it.
		probe := exec.Command("unshare", "-m", "sh", "-c", `mount -t tmpfs -o "$1" tmpfs "$0"`, dir, opts)
		if out, err := probe.CombinedOutput(); err != nil {
			t.Skipf("cannot mount a tmpfs in a private mount namespace (needs CAP_SYS_ADMIN): %v %s", err, out)
		}
		return []string{"unshare", "-m", "sh", "-c", `mount -t tmpfs -o "$1" tmpfs "$0" && exec "$2"`, dir, opts}, dir
	}
	cases := []struct {
		name    string
		setup   func(t *testing.T) (wrap []string, path string)
		wantErr []string // any of these, in the error
	}{
		{"not a directory", func(t *testing.T) ([]string, string) { return nil, "/dev/full/rec.avi" },
			[]string{"not a directory", "no such file"}},
		{"read-only file system", func(t *testing.T) ([]string, string) {
			wrap, dir := mounts(t, "ro,size=1m")
			return wrap, filepath.Join(dir, "rec.avi")
		}, []string{"read-only file system"}},
		{"disk already full", func(t *testing.T) ([]string, string) {
			wrap, dir := mounts(t, "size=4k")
			return wrap, filepath.Join(dir, "rec.avi")
		}, []string{"no space", "full"}},
		{"disk fills during the recording", func(t *testing.T) ([]string, string) {
			wrap, dir := mounts(t, "size=256k")
			return wrap, filepath.Join(dir, "rec.avi")
		}, []string{"no space", "full"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			wrap, path := tc.setup(t)
			srv := startServer(t, nil)
			cli := start(t, "client", map[string]string{"SERVER_ADDR": srv.addr, "VIEWER_DISPLAY": "none",
				"LOG_FORMAT": "json", "STATS_INTERVAL": "200ms", "RECORD_PATH": path}, startOpts{wrap: wrap})
			var errLine logLine
			waitFor(10*time.Second, func() bool {
				for _, l := range logs(cli, "") {
					if l.str("level") == "ERROR" {
						errLine = l
						return true
					}
				}
				return false
			})
			if errLine == nil {
				t.Fatalf("no error logged while recording to %s (frames received: %v)", path, statsFrames(cli, "json"))
			}
			msg := errLine.str("msg") + ": " + errLine.str("err")
			t.Logf("client logged: %s", msg)
			if !strings.Contains(msg, path) || !containsAny(strings.ToLower(msg), tc.wantErr) {
				t.Errorf("error %q does not name %s and say %q", msg, path, tc.wantErr)
			}
			before := statsFrames(cli, "json")
			if !waitFor(15*time.Second, func() bool { return statsFrames(cli, "json") >= before+60 }) {
				t.Errorf("streaming stopped after the recording failed (frames %v, then %v)", before, statsFrames(cli, "json"))
			}
			n := 0
			for _, l := range logs(cli, "") {
				if l.str("level") == "ERROR" {
					n++
				}
			}
			if n != 1 {
				t.Errorf("%d errors logged, want the failure once", n)
			}
			// A failed recording is not reported as saved at the end.
			cli.Signal(syscall.SIGTERM)
			if code := cli.Wait(10 * time.Second); code < 0 {
				t.Fatal("client did not stop on SIGTERM")
			}
			for _, l := range logs(cli, "recording saved") {
				t.Errorf("after the failure the client still logged %v", l)
			}
		})
	}
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
