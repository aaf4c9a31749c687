// Package hostile holds the reliability and security tests of camstream: hostile peers on both sides of the
// protocol, faults (a failing source, a killed server, a silent network path, a full disk), limits, and secrets.
// They run the real server and client binaries, built once in TestMain (with -race when the tests are), and
// attack them from this process. Every server listens on 127.0.0.1 and every loop is bounded in count and time.
package hostile

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/camstream/camstream/internal/testbin"
	"github.com/camstream/camstream/pkg/wire"
)

// binDir holds the server and client binaries, built once for the whole package.
var binDir string

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	var flags []string
	if raceEnabled {
		flags = append(flags, "-race") // the programs under attack are checked for data races too
	}
	dir, cleanup, err := testbin.BuildFlags(flags, "./services/...")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer cleanup()
	binDir = dir
	before := runtime.NumGoroutine()
	code := m.Run()
	// The tests' own helpers (heartbeat senders, proxies, fake servers, process waiters) must all have ended,
	// whether the tests passed or not: every one is stopped by a cleanup.
	if err := checkGoroutines(before, 10*time.Second); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	return code
}

// checkGoroutines waits up to d for this process to be back to at most want goroutines, else describes the
// goroutines left over.
func checkGoroutines(want int, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		n := runtime.NumGoroutine()
		if n <= want {
			return nil
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			return fmt.Errorf("goroutine leak in the test process: %d goroutines after the tests, %d before:\n%s", n, want, buf)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func moduleRoot() string { return testbin.ModuleRoot() }

// freeAddr returns a loopback address with a port nobody listens on right now.
func freeAddr(t testing.TB) string { return testbin.FreeAddr(t) }

// ---------------------------------------------------------------------------------------------------------------
// Processes

// proc is a running program whose output (stdout and stderr together) is captured.
type proc = testbin.Proc

type startOpts struct {
	dir  string   // working directory ("" = a fresh temporary directory)
	wrap []string // command that runs the program, e.g. unshare; the program's path and nothing else follows
}

// start runs a built program with env (on top of a minimal environment) and kills it at the end of the test. It
// fails the test if the program's output shows a data race, a panic or a Go runtime crash.
func start(t testing.TB, name string, env map[string]string, o startOpts) *proc {
	t.Helper()
	full := map[string]string{"GORACE": "halt_on_error=0"}
	for k, v := range env {
		full[k] = v
	}
	dir := o.dir
	if dir == "" {
		dir = t.TempDir()
	}
	return testbin.StartWith(t, filepath.Join(binDir, name), full, testbin.Opts{Dir: dir, Wrap: o.wrap,
		Check: func(t testing.TB, out string) {
			for _, bad := range []string{"WARNING: DATA RACE", "panic: ", "fatal error: ", "SIGSEGV"} {
				if strings.Contains(out, bad) {
					t.Errorf("%s output shows %q", name, bad)
				}
			}
		}})
}

// procStatus reads a "kB" field of /proc/<pid>/status (VmRSS, VmHWM) in MiB; -1 when it cannot.
func procStatus(pid int, field string) float64 { return testbin.StatusMiB(pid, field) }

// logLine is one LOG_FORMAT=json record.
type logLine map[string]any

func (l logLine) str(k string) string {
	v, _ := l[k].(string)
	return v
}

func (l logLine) num(k string) float64 {
	v, _ := l[k].(float64)
	return v
}

// logs returns the program's JSON log records whose msg is msg ("" = all); other output lines are skipped.
func logs(p *proc, msg string) []logLine {
	var ls []logLine
	for _, l := range p.Logs(msg) {
		ls = append(ls, l)
	}
	return ls
}

// waitFor polls cond every 50 ms until it is true or d passes.
func waitFor(d time.Duration, cond func() bool) bool { return testbin.WaitFor(d, cond) }

// ---------------------------------------------------------------------------------------------------------------
// Server

type server struct {
	*proc
	addr     string // camstream protocol
	httpAddr string
	token    string
}

// startServer starts a 320x240 test-pattern server logging JSON (env overrides) and waits until it accepts.
func startServer(t testing.TB, env map[string]string) *server {
	t.Helper()
	return startServerOpts(t, env, startOpts{})
}

func startServerOpts(t testing.TB, env map[string]string, o startOpts) *server {
	t.Helper()
	full := map[string]string{"CAPTURE_SOURCE": "testpattern", "CAPTURE_WIDTH": "320", "CAPTURE_HEIGHT": "240",
		"CAPTURE_FPS": "30", "LISTEN_ADDR": freeAddr(t), "HTTP_ADDR": freeAddr(t), "LOG_FORMAT": "json"}
	for k, v := range env {
		full[k] = v
	}
	s := &server{addr: full["LISTEN_ADDR"], httpAddr: full["HTTP_ADDR"], token: full["AUTH_TOKEN"]}
	s.proc = start(t, "server", full, o)
	waitListening(t, s.addr, s.proc)
	return s
}

func waitListening(t testing.TB, addr string, p *proc) {
	t.Helper()
	testbin.WaitTCP(t, addr, p)
}

var httpClient = &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// httpGet fetches path from the server's HTTP side with the server's token (if any), and returns the status and
// at most 1 MiB of the body.
func (s *server) httpGet(path string, header map[string]string) (int, []byte, error) {
	req, err := http.NewRequest("GET", "http://"+s.httpAddr+path, nil)
	if err != nil {
		return 0, nil, err
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, b, err
}

// metrics is one scrape of /metrics: series as printed (name{labels}) to value.
type metrics map[string]float64

// mustMetrics scrapes /metrics or fails the test.
func (s *server) mustMetrics(t testing.TB) metrics {
	t.Helper()
	m, ok := s.metrics()
	if !ok {
		t.Fatalf("the server does not serve /metrics on %s", s.httpAddr)
	}
	return m
}

// metrics scrapes /metrics; ok is false when the server does not serve it.
func (s *server) metrics() (metrics, bool) {
	h := map[string]string{}
	if s.token != "" {
		h["Authorization"] = "Bearer " + s.token
	}
	code, body, err := s.httpGet("/metrics", h)
	if err != nil || code != http.StatusOK || !bytes.Contains(body, []byte("go_goroutines")) {
		return nil, false
	}
	m := metrics{}
	for _, l := range strings.Split(string(body), "\n") {
		if l == "" || l[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(l[i+1:], 64); err == nil {
			m[l[:i]] = v
		}
	}
	return m, true
}

func (m metrics) refused(reason string) float64 {
	return m[`camstream_connections_refused_total{reason="`+reason+`"}`]
}

// usage is what the server process uses: resident memory from /proc and, when /metrics is served, goroutines.
type usage struct {
	rssMB      float64
	goroutines float64 // -1: /metrics not served
}

func (u usage) String() string {
	g := "unknown (no /metrics)"
	if u.goroutines >= 0 {
		g = strconv.Itoa(int(u.goroutines))
	}
	return fmt.Sprintf("RSS %.1f MiB, goroutines %s", u.rssMB, g)
}

func (s *server) usage() usage {
	u := usage{rssMB: procStatus(s.Pid(), "VmRSS"), goroutines: -1}
	if m, ok := s.metrics(); ok {
		u.goroutines = m["go_goroutines"]
	}
	return u
}

// Tolerances for "back to where it was" after an attack. Go returns freed memory to the OS lazily; a race build's
// shadow memory grows with the first bursts of goroutines and is never given back (it levels off after two rounds
// of attacks, about +140 MiB), so with -race the memory check only catches gross growth: the memory of the
// regular build is checked by the same tests without -race and by the soak.
var (
	rssTolerance       = 30.0 // MiB
	goroutineTolerance = 5.0
)

func init() {
	if raceEnabled {
		rssTolerance = 200
	}
}

// settles waits (up to d) for the server to be back within rssTolerance and goroutineTolerance of base, and
// returns what it measured last.
func (s *server) settles(base usage, d time.Duration) (usage, bool) {
	var u usage
	ok := waitFor(d, func() bool {
		u = s.usage()
		return u.rssMB >= 0 && u.rssMB <= base.rssMB+rssTolerance &&
			(base.goroutines < 0 || u.goroutines >= 0 && u.goroutines <= base.goroutines+goroutineTolerance)
	})
	return u, ok
}

// ---------------------------------------------------------------------------------------------------------------
// Raw protocol client

// rawConn speaks the protocol directly. After an Accept it sends heartbeats as the protocol asks (every
// heartbeat interval / 3), unless asked not to.
type rawConn struct {
	c    net.Conn
	r    *wire.Reader
	once sync.Once
	stop chan struct{}
	hb   sync.WaitGroup
}

type dialOpts struct {
	from        string // local IP to dial from (another 127/8 address is another remote for the server)
	noHeartbeat bool
	rcvBuf      int // SO_RCVBUF; 0 = default
}

// dialRaw connects, sends a preamble and hello, and returns the server's answer (Accept or Refuse).
func dialRaw(addr string, h wire.Hello, o dialOpts) (*rawConn, wire.Message, error) {
	d := net.Dialer{Timeout: 3 * time.Second}
	if o.from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(o.from)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	if o.rcvBuf > 0 {
		c.(*net.TCPConn).SetReadBuffer(o.rcvBuf)
	}
	rc := &rawConn{c: c, stop: make(chan struct{})}
	out, err := wire.AppendHello(wire.AppendPreamble(nil), h)
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(out); err != nil {
		c.Close()
		return nil, nil, err
	}
	rc.r = wire.NewReader(c, wire.DefaultLimits())
	if _, err := rc.r.ReadPreamble(); err != nil {
		c.Close()
		return nil, nil, fmt.Errorf("server preamble: %w", err)
	}
	m, err := rc.r.Next()
	if err != nil {
		c.Close()
		return nil, nil, fmt.Errorf("server answer: %w", err)
	}
	c.SetDeadline(time.Time{})
	if acc, ok := m.(*wire.Accept); ok && !o.noHeartbeat {
		iv := time.Duration(acc.HeartbeatMillis) * time.Millisecond / 3
		if iv <= 0 {
			iv = 300 * time.Millisecond
		}
		rc.hb.Add(1)
		go rc.heartbeats(iv)
	}
	return rc, m, nil
}

func (rc *rawConn) heartbeats(iv time.Duration) {
	defer rc.hb.Done()
	t := time.NewTicker(iv)
	defer t.Stop()
	for {
		select {
		case <-rc.stop:
			return
		case <-t.C:
			rc.c.SetWriteDeadline(time.Now().Add(time.Second))
			if _, err := rc.c.Write(wire.AppendHeartbeat(nil, wire.Heartbeat{Sent: time.Now().UnixNano()})); err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					continue // a viewer that stops reading may also be unable to write for a while
				}
				return
			}
		}
	}
}

// Close stops the heartbeats and closes the connection.
func (rc *rawConn) Close() {
	rc.once.Do(func() {
		close(rc.stop)
		rc.c.Close()
		rc.hb.Wait()
	})
}

// mustAccept dials and fails the test unless the server accepts; the connection is closed at the end of the test.
func mustAccept(t testing.TB, addr string, h wire.Hello, o dialOpts) *rawConn {
	t.Helper()
	rc, m, err := dialRaw(addr, h, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rc.Close)
	if _, ok := m.(*wire.Accept); !ok {
		t.Fatalf("hello answered with %#v, want Accept", m)
	}
	return rc
}

// readUntilClosed reads and discards until the peer closes the connection or d passes; it returns how many bytes
// came and whether the connection was closed (EOF or reset) within d.
func readUntilClosed(c net.Conn, d time.Duration) (n int64, closed bool) {
	c.SetReadDeadline(time.Now().Add(d))
	n, err := io.Copy(io.Discard, c)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return n, false
	}
	return n, true
}

// ---------------------------------------------------------------------------------------------------------------
// A well-behaved viewer that counts what it receives

// watcher is a raw viewer that reads every frame, sends heartbeats, and counts frames and sequence numbers.
type watcher struct {
	rc   *rawConn
	done chan struct{}

	mu       sync.Mutex
	n        int    // frames received
	last     uint64 // last sequence number
	captured int64  // its capture time (server clock, Unix ns)
	noSignal int    // NO SIGNAL frames received
	runs     []run  // consecutive frames with the same NoSignal flag
	err      error  // why reading stopped
}

type run struct {
	noSignal bool
	n        int
}

// mark is a watcher's position: frames received and last sequence number.
type mark struct {
	n        int
	last     uint64
	captured int64
	at       time.Time
}

func watch(t testing.TB, addr string, h wire.Hello) *watcher {
	t.Helper()
	w := &watcher{rc: mustAccept(t, addr, h, dialOpts{}), done: make(chan struct{})}
	go w.loop()
	t.Cleanup(func() { w.rc.Close(); <-w.done })
	return w
}

func (w *watcher) loop() {
	defer close(w.done)
	for {
		m, err := w.rc.r.Next()
		if err != nil {
			w.mu.Lock()
			w.err = err
			w.mu.Unlock()
			return
		}
		f, ok := m.(*wire.Frame)
		if !ok {
			if g, ok := m.(*wire.Goodbye); ok {
				w.mu.Lock()
				w.err = fmt.Errorf("goodbye: %s", g.Reason)
				w.mu.Unlock()
				return
			}
			continue
		}
		ns := f.Flags&wire.FlagNoSignal != 0
		w.mu.Lock()
		w.n++
		w.last, w.captured = f.Seq, f.Captured
		if ns {
			w.noSignal++
		}
		if len(w.runs) == 0 || w.runs[len(w.runs)-1].noSignal != ns {
			w.runs = append(w.runs, run{noSignal: ns})
		}
		w.runs[len(w.runs)-1].n++
		w.mu.Unlock()
	}
}

func (w *watcher) mark() mark {
	w.mu.Lock()
	defer w.mu.Unlock()
	return mark{n: w.n, last: w.last, captured: w.captured, at: time.Now()}
}

func (w *watcher) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

func (w *watcher) Runs() []run {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]run(nil), w.runs...)
}

// waitFrames waits until the watcher has received n more frames than at m.
func (w *watcher) waitFrames(m mark, n int, d time.Duration) bool {
	return waitFor(d, func() bool { return w.mark().n >= m.n+n })
}

// publishRate is the rate at which the server published frames between a and b, by its own capture clock.
func publishRate(a, b mark) float64 {
	if b.captured <= a.captured {
		return 0
	}
	return float64(b.last-a.last) / time.Duration(b.captured-a.captured).Seconds()
}

// received returns the frames received between a and b, the sequence numbers published meanwhile, and their
// ratio: the share of the stream the viewer got, whatever the timing.
func received(a, b mark) (got, published int, ratio float64) {
	got, published = b.n-a.n, int(b.last-a.last)
	if published <= 0 {
		return got, published, 0
	}
	return got, published, float64(got) / float64(published)
}
