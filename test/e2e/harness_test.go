package e2e

import (
	"bufio"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/camstream/camstream/internal/testbin"
	"github.com/camstream/camstream/pkg/wire"
)

// binDir holds the server and client binaries, built once for the whole package.
var binDir string

func TestMain(m *testing.M) { testbin.Main(m, &binDir, "./services/...") }

type proc = testbin.Proc

func freeAddr(t *testing.T) string { return testbin.FreeAddr(t) }

// start runs a built program with env and stops it at the end of the test.
func start(t *testing.T, name string, env map[string]string) *proc {
	t.Helper()
	return testbin.Start(t, filepath.Join(binDir, name), env)
}

// startServer starts a test-pattern server (env overrides) and waits until it accepts connections.
func startServer(t *testing.T, env map[string]string) (*proc, string) {
	t.Helper()
	addr := freeAddr(t)
	full := map[string]string{"CAPTURE_SOURCE": "testpattern", "CAPTURE_WIDTH": "320", "CAPTURE_HEIGHT": "240",
		"LISTEN_ADDR": addr, "HTTP_ADDR": freeAddr(t), "LOG_LEVEL": "debug"}
	for k, v := range env {
		full[k] = v
	}
	if full["LISTEN_ADDR"] != addr {
		addr = full["LISTEN_ADDR"]
	}
	p := start(t, "server", full)
	testbin.WaitTCP(t, addr, p)
	return p, addr
}

// rawClient speaks the protocol directly, to check exactly what the server sends.
type rawClient struct {
	c net.Conn
	r *wire.Reader
}

// dial connects and sends a preamble and hello; it returns the server's answer (Accept or Refuse).
func dial(t *testing.T, addr string, h wire.Hello) (*rawClient, wire.Message) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	out, err := wire.AppendHello(wire.AppendPreamble(nil), h)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(out); err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	r := wire.NewReader(c, wire.DefaultLimits())
	if _, err := r.ReadPreamble(); err != nil {
		t.Fatalf("server preamble: %v", err)
	}
	m, err := r.Next()
	if err != nil {
		t.Fatalf("server answer: %v", err)
	}
	c.SetDeadline(time.Time{})
	if _, ok := m.(*wire.Accept); ok {
		// Heartbeats as the protocol asks, so the server keeps this viewer however it reads.
		stop := make(chan struct{})
		t.Cleanup(func() { close(stop) })
		go func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(300 * time.Millisecond):
					c.SetWriteDeadline(time.Now().Add(time.Second))
					if _, err := c.Write(wire.AppendHeartbeat(nil, wire.Heartbeat{Sent: time.Now().UnixNano()})); err != nil {
						return
					}
				}
			}
		}()
	}
	return &rawClient{c: c, r: r}, m
}

func mustAccept(t *testing.T, addr string, h wire.Hello) (*rawClient, *wire.Accept) {
	t.Helper()
	rc, m := dial(t, addr, h)
	acc, ok := m.(*wire.Accept)
	if !ok {
		t.Fatalf("hello answered with %#v, want Accept", m)
	}
	return rc, acc
}

// frame is a received frame with its own copy of the payload.
type frame struct {
	wire.FrameHeader
	payload []byte
}

// frames reads until n frames arrived or d passed, answering nothing (heartbeats are read and ignored).
func (rc *rawClient) frames(t *testing.T, n int, d time.Duration) []frame {
	t.Helper()
	var got []frame
	deadline := time.Now().Add(d)
	rc.c.SetReadDeadline(deadline)
	defer rc.c.SetReadDeadline(time.Time{})
	for len(got) < n && time.Now().Before(deadline) {
		m, err := rc.r.Next()
		if err != nil {
			t.Fatalf("after %d frames: %v", len(got), err)
		}
		if f, ok := m.(*wire.Frame); ok {
			got = append(got, frame{f.FrameHeader, append([]byte(nil), f.Payload...)})
		}
	}
	return got
}

// jsonLines returns the lines of out that carry msg (LOG_FORMAT=json), decoded by fn.
func linesWith(out, msg string) []string {
	var ls []string
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), `"msg":"`+msg+`"`) {
			ls = append(ls, sc.Text())
		}
	}
	return ls
}

// waitFor polls cond until it is true or d passes.
func waitFor(d time.Duration, cond func() bool) bool { return testbin.WaitFor(d, cond) }
