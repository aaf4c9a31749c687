package streamserver

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/camstream/camstream/pkg/auth"
	"github.com/camstream/camstream/pkg/encode"
	"github.com/camstream/camstream/pkg/fanout"
	"github.com/camstream/camstream/pkg/metrics"
	"github.com/camstream/camstream/pkg/wire"
)

var jpegQ80 = encode.Format{Codec: wire.CodecJPEG, Quality: 80}

type testServer struct {
	addr string
	hub  *encode.Hub
	m    *metrics.Metrics
	logs *syncBuffer
	stop func()
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// newTestServer serves a hub fed with small fake frames at about 100 fps, in every format in use.
func newTestServer(t *testing.T, mod func(*Config)) *testServer {
	t.Helper()
	ts := &testServer{hub: fanout.New[encode.Format, *encode.Frame](5), m: metrics.New("test"), logs: &syncBuffer{}}
	cfg := Config{Addr: "127.0.0.1:0", Hub: ts.hub, JPEGQuality: 80, HandshakeTimeout: 300 * time.Millisecond,
		WriteTimeout: 300 * time.Millisecond, Heartbeat: 100 * time.Millisecond, Metrics: ts.m,
		Info: func() StreamInfo { return StreamInfo{Width: 4, Height: 2, FPSMilli: 100000} },
		Log:  slog.New(slog.NewTextHandler(ts.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	if mod != nil {
		mod(&cfg)
	}
	s := New(cfg)
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ts.addr = s.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); s.Serve(ctx) }()
	go func() {
		defer wg.Done()
		for seq := uint64(1); ctx.Err() == nil; seq++ {
			fr := &encode.Frame{Seq: seq, Width: 4, Height: 2}
			for _, f := range ts.hub.Keys() {
				payload := bytes.Repeat([]byte{byte(seq)}, 24)
				hdr := wire.FrameHeader{Seq: seq, Captured: time.Now().UnixNano(), Codec: f.Codec, Width: 4, Height: 2}
				msg, err := wire.AppendFrame(nil, hdr, payload)
				if err != nil {
					panic(err)
				}
				fr.Encodings = append(fr.Encodings, encode.Encoded{Format: f, Msg: msg, Payload: msg[wire.FrameOverhead:]})
			}
			ts.hub.Publish(fr)
			time.Sleep(10 * time.Millisecond)
		}
	}()
	ts.stop = func() { cancel(); wg.Wait() }
	t.Cleanup(ts.stop)
	return ts
}

func hello(t *testing.T, h wire.Hello) []byte {
	b, err := wire.AppendHello(wire.AppendPreamble(nil), h)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// answer sends raw bytes and returns the server's first message (or the error reading it).
func answer(t *testing.T, addr string, send []byte) (wire.Message, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write(send)
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	r := wire.NewReader(c, wire.DefaultLimits())
	if _, err := r.ReadPreamble(); err != nil {
		return nil, err
	}
	return r.Next()
}

func TestHandshake(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.Token = auth.Token("tok") })
	tests := []struct {
		name   string
		send   []byte
		accept bool
		refuse wire.RefuseCode
		closed bool // closed without a word
	}{
		{"good", hello(t, wire.Hello{Codec: wire.CodecJPEG, Token: "tok"}), true, 0, false},
		{"bgr", hello(t, wire.Hello{Codec: wire.CodecBGR, Token: "tok"}), true, 0, false},
		{"no token", hello(t, wire.Hello{Codec: wire.CodecJPEG}), false, wire.RefuseAuth, false},
		{"bad quality", hello(t, wire.Hello{Codec: wire.CodecJPEG, Quality: 200, Token: "tok"}), false, wire.RefuseCodec, false},
		{"wrong magic", []byte("GET / HTTP/1.1\r\n\r\n"), false, 0, true},
		{"random bytes", []byte{0x93, 0x11, 0xfe, 0x00, 0x42, 0x17, 0x99, 0x01, 0x02}, false, 0, true},
		{"version", []byte("CAMS\x00\x07"), false, wire.RefuseVersion, false},
		{"heartbeat instead of hello", wire.AppendHeartbeat(wire.AppendPreamble(nil), wire.Heartbeat{}), false, wire.RefuseBadHello, false},
		{"hello claiming a gigabyte", append(wire.AppendPreamble(nil), byte(wire.MsgHello), 0x40, 0, 0, 0), false, wire.RefuseBadHello, false},
		{"unknown type", append(wire.AppendPreamble(nil), 77, 0, 0, 0, 1, 0), false, wire.RefuseBadHello, false},
		{"unknown codec", append(wire.AppendPreamble(nil), byte(wire.MsgHello), 0, 0, 0, 5, 9, 0, 0, 0, 0), false, wire.RefuseBadHello, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := answer(t, ts.addr, tc.send)
			switch {
			case tc.closed:
				if err == nil {
					t.Fatalf("answered %#v, want a silent close", m)
				}
			case tc.accept:
				if _, ok := m.(*wire.Accept); !ok || err != nil {
					t.Fatalf("answer %#v %v, want Accept", m, err)
				}
			default:
				ref, ok := m.(*wire.Refuse)
				if err != nil || !ok || ref.Code != tc.refuse {
					t.Fatalf("answer %#v %v, want Refuse %v", m, err, tc.refuse)
				}
			}
		})
	}
	if strings.Contains(ts.logs.String(), "tok\"") || strings.Contains(ts.logs.String(), "=tok") {
		t.Error("the token appears in the log")
	}
	if got := testutil.ToFloat64(ts.m.Refused.WithLabelValues("auth")); got != 1 {
		t.Errorf("auth refusals counted %v, want 1", got)
	}
}

// A hello trickled one byte at a time, slower than the handshake timeout allows, is cut off.
func TestSlowHelloTimesOut(t *testing.T) {
	ts := newTestServer(t, nil)
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := hello(t, wire.Hello{Codec: wire.CodecJPEG})
	start := time.Now()
	var werr error
	for i := 0; i < len(msg) && werr == nil; i++ {
		_, werr = c.Write(msg[i : i+1])
		time.Sleep(50 * time.Millisecond)
		c.SetReadDeadline(time.Now().Add(time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); err == io.EOF {
			break
		}
	}
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.ReadAll(c); err != nil && !errors.Is(err, net.ErrClosed) {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("server kept the trickling connection open")
		}
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("cut off after %v, handshake timeout is 300ms", el)
	}
	if got := testutil.ToFloat64(ts.m.Refused.WithLabelValues("handshake_timeout")); got != 1 {
		t.Errorf("handshake timeouts counted %v", got)
	}
}

func TestLimits(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.MaxPerAddr = 2 })
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < 2; i++ {
		c, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		c.Write(hello(t, wire.Hello{Codec: wire.CodecJPEG}))
		r := wire.NewReader(c, wire.DefaultLimits())
		r.ReadPreamble()
		if m, err := r.Next(); err != nil || m.Type() != wire.MsgAccept {
			t.Fatalf("viewer %d: %#v %v", i, m, err)
		}
	}
	m, err := answer(t, ts.addr, hello(t, wire.Hello{Codec: wire.CodecJPEG}))
	if ref, ok := m.(*wire.Refuse); err != nil || !ok || ref.Code != wire.RefuseFull || !strings.Contains(ref.Reason, "127.0.0.1") {
		t.Fatalf("third viewer from one address: %#v %v", m, err)
	}
}

// Viewers get frames in order, heartbeats when there is nothing to send, and a goodbye at shutdown; a viewer
// that goes silent is dropped.
func TestStreamHeartbeatGoodbye(t *testing.T) {
	ts := newTestServer(t, nil)
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write(hello(t, wire.Hello{Codec: wire.CodecJPEG}))
	r := wire.NewReader(c, wire.DefaultLimits())
	r.ReadPreamble()
	m, _ := r.Next()
	acc, ok := m.(*wire.Accept)
	if !ok || acc.Width != 4 || acc.Quality != 80 || acc.HeartbeatMillis != 100 {
		t.Fatalf("accept %#v", m)
	}
	var last uint64
	for i := 0; i < 10; i++ {
		c.SetReadDeadline(time.Now().Add(time.Second))
		m, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if f, ok := m.(*wire.Frame); ok {
			if f.Seq <= last {
				t.Fatalf("seq %d after %d", f.Seq, last)
			}
			last = f.Seq
		}
	}
	// We send no heartbeats: after 3 intervals of silence the server drops us.
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	for {
		if _, err := r.Next(); err != nil {
			break
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for !strings.Contains(ts.logs.String(), "viewer silent") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(ts.logs.String(), "viewer silent") {
		t.Errorf("silent viewer not dropped:\n%s", ts.logs.String())
	}
}

func TestGoodbyeOnShutdownAndNoLeaks(t *testing.T) {
	before := runtime.NumGoroutine()
	ts := newTestServer(t, nil)
	var readers []*wire.Reader
	for i := 0; i < 3; i++ {
		c, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write(hello(t, wire.Hello{Codec: wire.CodecJPEG}))
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		r := wire.NewReader(c, wire.DefaultLimits())
		r.ReadPreamble()
		r.Next()
		readers = append(readers, r)
	}
	time.Sleep(50 * time.Millisecond)
	ts.stop()
	for i, r := range readers {
		gotBye := false
		for {
			m, err := r.Next()
			if err != nil {
				break
			}
			if g, ok := m.(*wire.Goodbye); ok && g.Code == wire.GoodbyeShutdown {
				gotBye = true
			}
		}
		if !gotBye {
			t.Errorf("viewer %d got no goodbye", i)
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines after shutdown, %d before\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}

// Beyond MaxFormats formats in use, a viewer asking for yet another gets the server's default JPEG.
func TestFormatLimit(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.MaxFormats = 2 })
	qualities := []uint8{0, 50, 60}
	want := []uint8{80, 50, 80}
	for i, q := range qualities {
		c, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write(hello(t, wire.Hello{Codec: wire.CodecJPEG, Quality: q}))
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		r := wire.NewReader(c, wire.DefaultLimits())
		r.ReadPreamble()
		m, err := r.Next()
		acc, ok := m.(*wire.Accept)
		if err != nil || !ok || acc.Quality != want[i] {
			t.Fatalf("quality %d: answer %#v %v, want Accept at quality %d", q, m, err, want[i])
		}
		for {
			m, err := r.Next()
			if err != nil {
				t.Fatal(err)
			}
			if f, ok := m.(*wire.Frame); ok {
				if f.Codec != wire.CodecJPEG {
					t.Fatalf("codec %v", f.Codec)
				}
				break
			}
		}
	}
	if n := len(ts.hub.Keys()); n != 2 {
		t.Fatalf("%d formats in use, limit 2", n)
	}
}
