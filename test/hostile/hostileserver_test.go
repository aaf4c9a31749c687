package hostile

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/camstream/camstream/pkg/wire"
)

// fakeServer is a camstream server written by the test: its first connection gets the hostile behaviour under
// test, every later one a well-formed 30 fps stream, so a client that survives the attack is seen to recover.
type fakeServer struct {
	addr  string
	l     net.Listener
	stop  chan struct{}
	wg    sync.WaitGroup
	conns atomic.Int32

	mu   sync.Mutex
	open map[net.Conn]bool
}

func startFake(t testing.TB, hostile func(c net.Conn, stop <-chan struct{})) *fakeServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeServer{addr: l.Addr().String(), l: l, stop: make(chan struct{}), open: map[net.Conn]bool{}}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			f.mu.Lock()
			f.open[c] = true
			f.mu.Unlock()
			n := f.conns.Add(1)
			f.wg.Add(1)
			go func() {
				defer f.wg.Done()
				defer func() {
					c.Close()
					f.mu.Lock()
					delete(f.open, c)
					f.mu.Unlock()
				}()
				if !readHello(c) {
					return
				}
				if n == 1 {
					hostile(c, f.stop)
				} else {
					goodStream(c, f.stop)
				}
			}()
		}
	}()
	t.Cleanup(func() {
		close(f.stop)
		l.Close()
		f.mu.Lock()
		for c := range f.open {
			c.Close()
		}
		f.mu.Unlock()
		f.wg.Wait()
	})
	return f
}

// readHello reads the client's preamble and hello.
func readHello(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	defer c.SetReadDeadline(time.Time{})
	r := wire.NewReader(c, wire.Limits{})
	if _, err := r.ReadPreamble(); err != nil {
		return false
	}
	m, err := r.Next()
	if err != nil {
		return false
	}
	_, ok := m.(*wire.Hello)
	return ok
}

func accept(hbMillis, maxPayload uint32) []byte {
	b, err := wire.AppendAccept(wire.AppendPreamble(nil), wire.Accept{Codec: wire.CodecJPEG, Quality: 80, Width: 320,
		Height: 240, FPSMilli: 30000, HeartbeatMillis: hbMillis, MaxPayload: maxPayload, Server: "fake"})
	if err != nil {
		panic(err)
	}
	return b
}

var (
	jpegOnce sync.Once
	jpeg320  []byte
)

// testJPEG is a 320x240 baseline JPEG.
func testJPEG() []byte {
	jpegOnce.Do(func() {
		img := image.NewRGBA(image.Rect(0, 0, 320, 240))
		for y := 0; y < 240; y++ {
			for x := 0; x < 320; x++ {
				img.Set(x, y, color.RGBA{uint8(x), uint8(y), uint8(x + y), 255})
			}
		}
		var b bytes.Buffer
		jpeg.Encode(&b, img, &jpeg.Options{Quality: 80})
		jpeg320 = b.Bytes()
	})
	return jpeg320
}

// jpegClaiming returns a small JPEG whose frame header claims w x h: a decompression bomb.
func jpegClaiming(w, h uint16) []byte {
	img := image.NewGray(image.Rect(0, 0, 16, 16))
	var b bytes.Buffer
	jpeg.Encode(&b, img, nil)
	j := b.Bytes()
	i := bytes.Index(j, []byte{0xff, 0xc0})
	binary.BigEndian.PutUint16(j[i+5:], h)
	binary.BigEndian.PutUint16(j[i+7:], w)
	return j
}

func frameMsg(seq uint64, payload []byte) []byte {
	b, err := wire.AppendFrame(nil, wire.FrameHeader{Seq: seq, Captured: time.Now().UnixNano(), Codec: wire.CodecJPEG,
		Width: 320, Height: 240}, payload)
	if err != nil {
		panic(err)
	}
	return b
}

// goodStream sends an Accept and then 320x240 JPEG frames at 30 fps until the connection or the test ends.
func goodStream(c net.Conn, stop <-chan struct{}) {
	go io.Copy(io.Discard, c) // the client's heartbeats
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(accept(1000, 1<<20)); err != nil {
		return
	}
	t := time.NewTicker(33 * time.Millisecond)
	defer t.Stop()
	for seq := uint64(1); ; seq++ {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write(frameMsg(seq, testJPEG())); err != nil {
			return
		}
	}
}

// hold keeps a connection open (reading what the client sends) for d or until the test ends.
func hold(c net.Conn, stop <-chan struct{}, d time.Duration) {
	go io.Copy(io.Discard, c)
	select {
	case <-stop:
	case <-time.After(d):
	}
}

// clientPeakMiB bounds the client's peak resident memory (VmHWM) through any attack.
func clientPeakMiB() float64 {
	if raceEnabled {
		return 600
	}
	return 300
}

// The client against a hostile server: whatever the server sends, the client neither crashes nor allocates what
// a length or a size claims; it drops a connection that breaks the protocol (saying why), detects a silent
// server by its heartbeat, escapes what it logs, and reconnects to receive a good stream again.
func TestClientAgainstHostileServer(t *testing.T) {
	cases := []struct {
		name    string
		format  string // LOG_FORMAT
		hostile func(c net.Conn, stop <-chan struct{})
		wantErr string // in the client's "disconnected" log record
	}{
		{"not camstream", "json", func(c net.Conn, _ <-chan struct{}) {
			c.Write([]byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"))
		}, "bad magic"},
		{"frame claiming 4 GiB", "json", func(c net.Conn, stop <-chan struct{}) {
			c.Write(append(accept(1000, 1<<20), byte(wire.MsgFrame), 0xff, 0xff, 0xff, 0xff))
			hold(c, stop, 5*time.Second)
		}, "exceeds limit"},
		{"accept allowing 4 GiB, frame claiming 2 GiB", "json", func(c net.Conn, stop <-chan struct{}) {
			c.Write(append(accept(1000, 0xffffffff), byte(wire.MsgFrame), 0x80, 0, 0, 0))
			hold(c, stop, 5*time.Second)
		}, "exceeds limit"},
		{"frame body that never comes", "json", func(c net.Conn, stop <-chan struct{}) {
			// 99 MB announced (within the limits), 2 MB sent, then nothing: the client holds what came, no more,
			// and gives up after three heartbeats of silence.
			b := append(accept(500, 0xffffffff), byte(wire.MsgFrame))
			b = binary.BigEndian.AppendUint32(b, wire.FrameHeaderLen+wire.MaxWidth*wire.MaxHeight*3)
			c.Write(append(b, make([]byte, 2<<20)...))
			hold(c, stop, 8*time.Second)
		}, "server silent"},
		{"frame of 65535x65535", "json", func(c net.Conn, stop <-chan struct{}) {
			b := frameMsg(1, testJPEG())
			binary.BigEndian.PutUint16(b[wire.HeaderLen+18:], 0xffff)
			binary.BigEndian.PutUint16(b[wire.HeaderLen+20:], 0xffff)
			c.Write(append(accept(1000, 1<<20), b...))
			hold(c, stop, 5*time.Second)
		}, "size 65535x65535"},
		{"BGR frame shorter than its size", "json", func(c net.Conn, stop <-chan struct{}) {
			b := frameMsg(1, make([]byte, 64))
			b[wire.HeaderLen+16] = byte(wire.CodecBGR)
			binary.BigEndian.PutUint16(b[wire.HeaderLen+18:], wire.MaxWidth)
			binary.BigEndian.PutUint16(b[wire.HeaderLen+20:], wire.MaxHeight)
			c.Write(append(accept(1000, 1<<20), b...))
			hold(c, stop, 5*time.Second)
		}, "BGR payload"},
		{"garbage after the accept", "json", func(c net.Conn, stop <-chan struct{}) {
			rng := rand.New(rand.NewPCG(3, 4))
			g := make([]byte, 64<<10)
			for i := range g {
				g[i] = byte(rng.Uint32())
			}
			g[0] = 0xee // an unknown type, whatever the seed
			c.Write(append(accept(1000, 1<<20), g...))
			hold(c, stop, 5*time.Second)
		}, "unknown message type"},
		{"silent server", "json", func(c net.Conn, stop <-chan struct{}) {
			c.Write(accept(500, 1<<20))
			hold(c, stop, 8*time.Second)
		}, "server silent"},
		{"goodbye forging a log record", "json", func(c net.Conn, stop <-chan struct{}) {
			g, _ := wire.AppendGoodbye(nil, wire.Goodbye{Code: wire.GoodbyeShutdown, Reason: forged})
			c.Write(append(accept(1000, 1<<20), g...))
			hold(c, stop, time.Second)
		}, "said goodbye"},
		{"refusal forging a text log line", "text", func(c net.Conn, _ <-chan struct{}) {
			r, _ := wire.AppendRefuse(wire.AppendPreamble(nil), wire.Refuse{Code: wire.RefuseFull, Reason: forged})
			c.Write(r)
		}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake := startFake(t, tc.hostile)
			cli := start(t, "client", map[string]string{"SERVER_ADDR": fake.addr, "VIEWER_DISPLAY": "none",
				"LOG_FORMAT": tc.format, "STATS_INTERVAL": "200ms"}, startOpts{})
			expectRecovery(t, cli, fake, tc.format)
			if tc.wantErr != "" {
				var errs []string
				for _, l := range logs(cli, "disconnected; reconnecting with backoff") {
					errs = append(errs, l.str("err"))
				}
				if len(errs) == 0 || !strings.Contains(errs[0], tc.wantErr) {
					t.Errorf("client's first disconnect reason %q, want one mentioning %q", errs, tc.wantErr)
				}
			}
			checkNotForged(t, cli)
		})
	}
}

// Frames whose payload is not the picture their header describes: a JPEG whose own header claims 30000 x 30000
// pixels (2.7 GB decoded) in a frame that says 320 x 240 (then other sizes), a truncated JPEG and bytes that are no
// JPEG. The client must skip each one without decoding it into memory or crashing, say so once per kind of
// problem (however the details vary), and go on with the frames that follow.
func TestClientAgainstJPEGBomb(t *testing.T) {
	full := testJPEG()
	bad := [][]byte{jpegClaiming(30000, 30000), full[:len(full)/2], []byte("not a JPEG at all")}
	fake := startFake(t, func(c net.Conn, stop <-chan struct{}) {
		c.Write(accept(1000, 1<<20))
		seq := uint64(0)
		for round := 0; round < 3; round++ {
			for i, b := range append(bad, full) {
				if i == 0 && round > 0 {
					b = jpegClaiming(640+uint16(round), 480) // a bomb of another size is the same kind of problem
				}
				seq++
				c.Write(frameMsg(seq, b))
				select {
				case <-stop:
					return
				case <-time.After(100 * time.Millisecond):
				}
			}
		}
	})
	cli := start(t, "client", map[string]string{"SERVER_ADDR": fake.addr, "VIEWER_DISPLAY": "none",
		"LOG_FORMAT": "json", "STATS_INTERVAL": "200ms"}, startOpts{})
	expectRecovery(t, cli, fake, "json")
	var why []string
	for _, l := range logs(cli, "frame not decodable; skipped") {
		why = append(why, l.str("err"))
	}
	t.Logf("skipped: %q", why)
	// Two kinds of problem: a size that is not the header's, and a payload that is not a complete JPEG.
	if len(why) != 2 || !strings.Contains(why[0], "claims 30000x30000") || !strings.Contains(why[1], "not a complete JPEG") {
		t.Errorf("%d bad frames reported as %q, want once per kind of problem (wrong size, not a complete JPEG)", 3*len(bad), why)
	}
	if n := len(logs(cli, "connected")); n != 2 {
		t.Errorf("client connected %d times, want 2: bad pictures are skipped, not a reason to reconnect", n)
	}
}

const forged = "bye\n{\"time\":\"2026-01-01T00:00:00Z\",\"level\":\"ERROR\",\"msg\":\"forged\"}\nlevel=ERROR msg=forged"

// checkNotForged fails if a line of the client's output is a log record that came from the network.
func checkNotForged(t *testing.T, p *proc) {
	t.Helper()
	if len(logs(p, "forged")) > 0 {
		t.Errorf("a log record was forged by the server")
	}
	for _, l := range strings.Split(p.Output(), "\n") {
		if strings.HasPrefix(l, "level=ERROR msg=forged") {
			t.Errorf("a text log line was forged by the server: %q", l)
		}
	}
}

// expectRecovery waits for the client to reconnect to the fake server and receive 30 frames of its good stream,
// and checks it is still running and never used much memory.
func expectRecovery(t *testing.T, cli *proc, fake *fakeServer, format string) {
	t.Helper()
	ok := waitFor(30*time.Second, func() bool {
		return fake.conns.Load() >= 2 && statsFrames(cli, format) >= 30
	})
	if !ok {
		t.Errorf("client did not recover: %d connections, %v frames", fake.conns.Load(), statsFrames(cli, format))
	}
	if !cli.Running() {
		t.Fatalf("client exited")
	}
	if peak := procStatus(cli.Pid(), "VmHWM"); peak > clientPeakMiB() {
		t.Errorf("client's peak memory %.0f MiB, want <= %.0f MiB", peak, clientPeakMiB())
	} else {
		t.Logf("client's peak memory %.0f MiB", peak)
	}
}

// statsFrames returns the frames count of the client's last stats record.
func statsFrames(p *proc, format string) float64 {
	if format == "json" {
		ls := logs(p, "stats")
		if len(ls) == 0 {
			return 0
		}
		return ls[len(ls)-1].num("frames")
	}
	out := p.Output()
	i := strings.LastIndex(out, "msg=stats frames=")
	if i < 0 {
		return 0
	}
	var n float64
	for _, c := range out[i+len("msg=stats frames="):] {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + float64(c-'0')
	}
	return n
}
