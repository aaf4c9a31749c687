//go:build soak

package soak

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/camstream/camstream/internal/testbin"
	"github.com/camstream/camstream/pkg/wire"
)

// Settings, from the environment:
//
//	SOAK_DURATION  how long the load runs (default 10m)
//	SOAK_VIEWERS   steady viewer processes (default 10)
//	SOAK_REPORT    interval of the printed samples (default 30s)
//	SOAK_SIZE      capture size (default 640x480); the rate is 30 fps
//	SOAK_RECONNECT how long the reconnecting viewer stays each time (default 3s)
//
// Growth allowed between the first sample (after warm-up) and any later one.
const (
	rssGrowthMiB       = 25.0
	goroutineGrowth    = 6 // the reconnecting viewer is connected or not at each sample: up to 3 goroutines
	fdGrowth           = 6
	clientRSSGrowthMiB = 25.0
	maxDroppedShare    = 0.10 // frames the server skipped for a steady viewer, of those it received
)

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func duration(t *testing.T, name, def string) time.Duration {
	d, err := time.ParseDuration(env(name, def))
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q: want a duration", name, os.Getenv(name))
	}
	return d
}

// TestSoak runs the server with SOAK_VIEWERS headless clients at 30 fps and one raw viewer that reconnects every
// SOAK_RECONNECT, for SOAK_DURATION; every SOAK_REPORT it prints the server's resident memory, goroutines and file
// descriptors, each viewer's frame rate and the clients' memory. It fails if the server's memory, goroutines or
// descriptors, or a client's memory, grow beyond a small tolerance over the run, if a steady viewer loses more
// than 10% of the frames, or if a reconnection fails.
func TestSoak(t *testing.T) {
	total := duration(t, "SOAK_DURATION", "10m")
	every := duration(t, "SOAK_REPORT", "30s")
	stay := duration(t, "SOAK_RECONNECT", "3s")
	nViewers, err := strconv.Atoi(env("SOAK_VIEWERS", "10"))
	if err != nil || nViewers < 1 {
		t.Fatalf("SOAK_VIEWERS=%q", os.Getenv("SOAK_VIEWERS"))
	}
	w, h, ok := strings.Cut(env("SOAK_SIZE", "640x480"), "x")
	if !ok {
		t.Fatalf("SOAK_SIZE=%q: want WxH", os.Getenv("SOAK_SIZE"))
	}
	if dl, ok := t.Deadline(); ok && time.Until(dl) < total+2*time.Minute {
		t.Fatalf("-timeout leaves %v, the soak needs SOAK_DURATION (%v) + 2m", time.Until(dl).Round(time.Second), total)
	}

	bin := build(t)
	srv := startServer(t, bin, map[string]string{"CAPTURE_SOURCE": "testpattern", "CAPTURE_WIDTH": w, "CAPTURE_HEIGHT": h,
		"CAPTURE_FPS": "30", "MAX_CLIENTS": strconv.Itoa(nViewers + 5), "LOG_FORMAT": "json"})
	statsEvery := min(every/3, 10*time.Second)
	var viewers []*proc
	for i := 0; i < nViewers; i++ {
		viewers = append(viewers, start(t, bin, "client", map[string]string{"SERVER_ADDR": srv.addr, "VIEWER_DISPLAY": "none",
			"LOG_FORMAT": "json", "STATS_INTERVAL": statsEvery.String()}))
	}
	rec := startReconnecter(t, srv.addr, stay)
	t.Logf("soak: %v, %d viewers at 30 fps (%sx%s), one reconnecting every %v; a sample every %v", total, nViewers, w, h, stay, every)

	began := time.Now()
	var samples []sample
	tick := time.NewTicker(every)
	defer tick.Stop()
	for time.Since(began) < total {
		<-tick.C
		s := srv.sample(t, viewers, rec)
		s.at = time.Since(began)
		samples = append(samples, s)
		t.Log(s)
		if !srv.Running() {
			t.Fatalf("server exited:\n%s", testbin.Tail(srv.Output(), 8<<10))
		}
		for i, v := range viewers {
			if !v.Running() {
				t.Fatalf("viewer %d exited:\n%s", i, testbin.Tail(v.Output(), 8<<10))
			}
		}
	}
	rec.stop()

	if len(samples) < 2 {
		t.Fatalf("%d samples: SOAK_DURATION must cover at least two SOAK_REPORT intervals", len(samples))
	}
	first, peak := samples[0], samples[0]
	for _, s := range samples[1:] {
		peak.rssMiB = max(peak.rssMiB, s.rssMiB)
		peak.goroutines = max(peak.goroutines, s.goroutines)
		peak.fds = max(peak.fds, s.fds)
		peak.clientRSSMiB = max(peak.clientRSSMiB, s.clientRSSMiB)
	}
	t.Logf("first sample: %v", first)
	t.Logf("peaks:        server RSS %.1f MiB, goroutines %d, fds %d; client RSS %.1f MiB",
		peak.rssMiB, peak.goroutines, peak.fds, peak.clientRSSMiB)
	if peak.rssMiB > first.rssMiB+rssGrowthMiB {
		t.Errorf("server memory grew from %.1f to %.1f MiB (tolerance %.0f MiB)", first.rssMiB, peak.rssMiB, rssGrowthMiB)
	}
	if peak.goroutines > first.goroutines+goroutineGrowth {
		t.Errorf("server goroutines grew from %d to %d (tolerance %d)", first.goroutines, peak.goroutines, goroutineGrowth)
	}
	if peak.fds > first.fds+fdGrowth {
		t.Errorf("server file descriptors grew from %d to %d (tolerance %d)", first.fds, peak.fds, fdGrowth)
	}
	if peak.clientRSSMiB > first.clientRSSMiB+clientRSSGrowthMiB {
		t.Errorf("a client's memory grew from %.1f to %.1f MiB (tolerance %.0f MiB)",
			first.clientRSSMiB, peak.clientRSSMiB, clientRSSGrowthMiB)
	}
	for i, v := range viewers {
		st := lastStats(v)
		if st == nil || st.Frames == 0 {
			t.Errorf("viewer %d received nothing", i)
			continue
		}
		if share := st.Dropped / st.Frames; share > maxDroppedShare {
			t.Errorf("viewer %d: the server skipped %.0f frames for %.0f received (%.1f%%)", i, st.Dropped, st.Frames, 100*share)
		}
		if n := len(logs(v, "connected")); n != 1 {
			t.Errorf("viewer %d connected %d times, want once", i, n)
		}
	}
	sessions, failures, lastErr := rec.result()
	t.Logf("reconnecting viewer: %d sessions, %d failed", sessions, failures)
	if failures > 0 {
		t.Errorf("%d of the reconnecting viewer's %d sessions failed, last: %v", failures, sessions, lastErr)
	}
	if want := int(total / (stay + time.Second) / 2); sessions < want {
		t.Errorf("the reconnecting viewer made %d sessions, want at least %d", sessions, want)
	}
}

// sample is one report line.
type sample struct {
	at           time.Duration
	rssMiB       float64
	goroutines   int
	fds          int
	fps          []float64 // each steady viewer's rate over its last stats interval
	clientRSSMiB float64   // the largest client's
	sessions     int       // the reconnecting viewer's, so far
}

func (s sample) String() string {
	fps := make([]string, len(s.fps))
	for i, f := range s.fps {
		fps[i] = strconv.FormatFloat(f, 'f', 1, 64)
	}
	return fmt.Sprintf("%8v  server RSS %6.1f MiB  goroutines %3d  fds %3d | viewer fps %s | client RSS max %5.1f MiB | reconnects %d",
		s.at.Round(time.Second), s.rssMiB, s.goroutines, s.fds, strings.Join(fps, " "), s.clientRSSMiB, s.sessions)
}

func (s *server) sample(t *testing.T, viewers []*proc, rec *reconnecter) sample {
	sm := sample{rssMiB: procStatus(s.Pid(), "VmRSS"), goroutines: -1, fds: countFDs(s.Pid())}
	if m, ok := s.metrics(); ok {
		sm.goroutines = int(m["go_goroutines"])
	} else {
		t.Errorf("the server does not serve /metrics on %s", s.httpAddr)
	}
	for _, v := range viewers {
		f := -1.0
		if st := lastStats(v); st != nil {
			f = st.FPS
		}
		sm.fps = append(sm.fps, f)
		sm.clientRSSMiB = max(sm.clientRSSMiB, procStatus(v.Pid(), "VmRSS"))
	}
	sm.sessions, _, _ = rec.result()
	return sm
}

func countFDs(pid int) int {
	es, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return -1
	}
	return len(es)
}

// ---------------------------------------------------------------------------------------------------------------
// The reconnecting viewer

// reconnecter connects, receives for a while (sending heartbeats), says goodbye and does it again.
type reconnecter struct {
	done     chan struct{}
	quit     chan struct{}
	sessions atomic.Int64
	failures atomic.Int64
	mu       sync.Mutex
	lastErr  error
}

func startReconnecter(t *testing.T, addr string, stay time.Duration) *reconnecter {
	r := &reconnecter{done: make(chan struct{}), quit: make(chan struct{})}
	go func() {
		defer close(r.done)
		for {
			select {
			case <-r.quit:
				return
			default:
			}
			r.sessions.Add(1)
			if err := session(addr, stay, r.quit); err != nil {
				r.failures.Add(1)
				r.mu.Lock()
				r.lastErr = err
				r.mu.Unlock()
			}
			select {
			case <-r.quit:
				return
			case <-time.After(time.Second):
			}
		}
	}()
	t.Cleanup(r.stop)
	return r
}

func (r *reconnecter) stop() {
	select {
	case <-r.quit:
	default:
		close(r.quit)
	}
	<-r.done
}

func (r *reconnecter) result() (sessions, failures int, lastErr error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return int(r.sessions.Load()), int(r.failures.Load()), r.lastErr
}

// session is one connection: it must be accepted and receive frames for stay.
func session(addr string, stay time.Duration, quit <-chan struct{}) error {
	c, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	out, _ := wire.AppendHello(wire.AppendPreamble(nil), wire.Hello{Codec: wire.CodecJPEG, Client: "soak-reconnecter"})
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(out); err != nil {
		return err
	}
	r := wire.NewReader(c, wire.DefaultLimits())
	if _, err := r.ReadPreamble(); err != nil {
		return err
	}
	m, err := r.Next()
	if err != nil {
		return err
	}
	if _, ok := m.(*wire.Accept); !ok {
		return fmt.Errorf("answer %v, want Accept", m.Type())
	}
	end := time.Now().Add(stay)
	frames, nextHB := 0, time.Now()
	for time.Now().Before(end) {
		select {
		case <-quit:
			return nil
		default:
		}
		if time.Now().After(nextHB) {
			c.SetWriteDeadline(time.Now().Add(time.Second))
			if _, err := c.Write(wire.AppendHeartbeat(nil, wire.Heartbeat{Sent: time.Now().UnixNano()})); err != nil {
				return err
			}
			nextHB = time.Now().Add(300 * time.Millisecond)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		m, err := r.Next()
		if err != nil {
			return fmt.Errorf("after %d frames: %w", frames, err)
		}
		if _, ok := m.(*wire.Frame); ok {
			frames++
		}
	}
	if frames == 0 {
		return fmt.Errorf("no frame in %v", stay)
	}
	bye, _ := wire.AppendGoodbye(nil, wire.Goodbye{Code: wire.GoodbyeClient, Reason: "soak"})
	c.SetWriteDeadline(time.Now().Add(time.Second))
	c.Write(bye)
	return nil
}

// ---------------------------------------------------------------------------------------------------------------
// Programs

// build builds the server and client (without -race: memory is what the soak measures).
func build(t *testing.T) string {
	dir, cleanup, err := testbin.Build("./services/...")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	return dir
}

type proc = testbin.Proc

// start runs a built program in a fresh directory; a panic or a Go runtime crash in its output fails the test.
func start(t *testing.T, bin, name string, env map[string]string) *proc {
	return testbin.StartWith(t, filepath.Join(bin, name), env, testbin.Opts{Dir: t.TempDir(),
		Check: func(t testing.TB, out string) {
			if strings.Contains(out, "panic: ") || strings.Contains(out, "fatal error: ") {
				t.Errorf("%s crashed:\n%s", name, testbin.Tail(out, 8<<10))
			}
		}})
}

type server struct {
	*proc
	addr, httpAddr string
}

func freeAddr(t *testing.T) string { return testbin.FreeAddr(t) }

func startServer(t *testing.T, bin string, env map[string]string) *server {
	s := &server{addr: freeAddr(t), httpAddr: freeAddr(t)}
	env["LISTEN_ADDR"], env["HTTP_ADDR"] = s.addr, s.httpAddr
	s.proc = start(t, bin, "server", env)
	for deadline := time.Now().Add(15 * time.Second); ; {
		if c, err := net.DialTimeout("tcp", s.addr, 200*time.Millisecond); err == nil {
			c.Close()
			return s
		}
		if !s.Running() || time.Now().After(deadline) {
			t.Fatalf("server not listening:\n%s", s.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var httpClient = &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

func (s *server) metrics() (map[string]float64, bool) {
	resp, err := httpClient.Get("http://" + s.httpAddr + "/metrics")
	if err != nil {
		return nil, false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if resp.StatusCode != http.StatusOK {
		return nil, false
	}
	m := map[string]float64{}
	for _, l := range strings.Split(string(b), "\n") {
		if l == "" || l[0] == '#' {
			continue
		}
		if i := strings.LastIndexByte(l, ' '); i > 0 {
			if v, err := strconv.ParseFloat(l[i+1:], 64); err == nil {
				m[l[:i]] = v
			}
		}
	}
	_, ok := m["go_goroutines"]
	return m, ok
}

func procStatus(pid int, field string) float64 { return testbin.StatusMiB(pid, field) }

// logs returns the JSON log records of p whose msg is msg.
func logs(p *proc, msg string) []map[string]any { return p.Logs(msg) }

type stats struct {
	Frames, FPS, Dropped float64
}

func lastStats(p *proc) *stats {
	ls := logs(p, "stats")
	if len(ls) == 0 {
		return nil
	}
	l := ls[len(ls)-1]
	f := func(k string) float64 { v, _ := l[k].(float64); return v }
	return &stats{Frames: f("frames"), FPS: f("fps"), Dropped: f("dropped")}
}
