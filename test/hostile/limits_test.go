package hostile

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/camstream/camstream/pkg/tlsconfig/tlstest"
	"github.com/camstream/camstream/pkg/wire"
)

// MAX_CLIENTS bounds TCP and HTTP viewers together: one over it is refused as Full (a temporary refusal), the
// refusal is logged once and counted, and a place freed by a viewer that leaves is given to the next.
func TestMaxClients(t *testing.T) {
	srv := startServer(t, map[string]string{"MAX_CLIENTS": "3"})
	m0 := srv.mustMetrics(t)
	a := mustAccept(t, srv.addr, wire.Hello{Codec: wire.CodecJPEG}, dialOpts{})
	mustAccept(t, srv.addr, wire.Hello{Codec: wire.CodecBGR}, dialOpts{})

	// The third place goes to an HTTP viewer (a client without a timeout: the stream lasts until the test ends).
	streamClient := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := streamClient.Get("http://" + srv.httpAddr + "/stream.mjpg")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("HTTP viewer: %s", resp.Status)
	}
	if !waitFor(5*time.Second, func() bool { return srv.mustMetrics(t)[`camstream_viewers{transport="http"}`] == 1 }) {
		t.Fatal("the HTTP viewer is not counted")
	}

	for i := 0; i < 5; i++ {
		_, m, err := dialRaw(srv.addr, wire.Hello{Codec: wire.CodecJPEG}, dialOpts{})
		if err != nil {
			t.Fatal(err)
		}
		if ref, ok := m.(*wire.Refuse); !ok || ref.Code != wire.RefuseFull || !ref.Code.Temporary() {
			t.Fatalf("viewer over MAX_CLIENTS: answer %#v, want a temporary Refuse Full", m)
		}
	}
	code, _, err := srv.httpGet("/stream.mjpg", nil)
	if err != nil || code != http.StatusServiceUnavailable {
		t.Errorf("HTTP viewer over MAX_CLIENTS: %d %v, want 503", code, err)
	}
	if n := countRefused(srv, wire.RefuseFull); n != 1 {
		t.Errorf("refusal logged %d times, want once", n)
	}
	if d := srv.mustMetrics(t).refused("max_clients") - m0.refused("max_clients"); d < 5 {
		t.Errorf("max_clients refusals counted %v, want >= 5", d)
	}

	a.Close()
	if !waitFor(5*time.Second, func() bool {
		rc, m, err := dialRaw(srv.addr, wire.Hello{Codec: wire.CodecJPEG}, dialOpts{})
		if err != nil {
			return false
		}
		defer rc.Close()
		_, ok := m.(*wire.Accept)
		return ok
	}) {
		t.Error("the place of a viewer that left was not given to a new one")
	}
}

func countRefused(srv *server, code wire.RefuseCode) int {
	n := 0
	for _, l := range logs(srv.proc, "viewer refused") {
		if l.str("code") == code.String() {
			n++
		}
	}
	return n
}

// MAX_CLIENTS_PER_ADDR bounds the viewers of one IP address, not of everyone: 127.0.0.2 and 127.0.0.3 are two
// remotes for the server. Each address over its limit is logged once, with the address.
func TestMaxClientsPerAddr(t *testing.T) {
	srv := startServer(t, map[string]string{"MAX_CLIENTS_PER_ADDR": "2", "LISTEN_ADDR": "127.0.0.1:" + port(freeAddr(t))})
	m0 := srv.mustMetrics(t)
	for _, ip := range []string{"127.0.0.2", "127.0.0.3"} {
		for i := 0; i < 2; i++ {
			mustAccept(t, srv.addr, wire.Hello{Codec: wire.CodecJPEG}, dialOpts{from: ip})
		}
		for i := 0; i < 3; i++ {
			_, m, err := dialRaw(srv.addr, wire.Hello{Codec: wire.CodecJPEG}, dialOpts{from: ip})
			if err != nil {
				t.Fatal(err)
			}
			ref, ok := m.(*wire.Refuse)
			if !ok || ref.Code != wire.RefuseFull || !strings.Contains(ref.Reason, ip) {
				t.Fatalf("third viewer from %s: answer %#v, want Refuse Full naming the address", ip, m)
			}
		}
	}
	mustAccept(t, srv.addr, wire.Hello{Codec: wire.CodecJPEG}, dialOpts{from: "127.0.0.4"})
	var remotes []string
	for _, l := range logs(srv.proc, "viewer refused") {
		remotes = append(remotes, l.str("remote"))
	}
	if len(remotes) != 2 || !strings.HasPrefix(remotes[0], "127.0.0.2:") || !strings.HasPrefix(remotes[1], "127.0.0.3:") {
		t.Errorf("refusals logged for %v, want once for 127.0.0.2 and once for 127.0.0.3", remotes)
	}
	if d := srv.mustMetrics(t).refused("per_addr_limit") - m0.refused("per_addr_limit"); d != 6 {
		t.Errorf("per_addr_limit refusals counted %v, want 6", d)
	}
}

func port(addr string) string { return addr[strings.LastIndexByte(addr, ':')+1:] }

// The server's side of the heartbeat: a viewer that reads but never sends a byte is dropped after three
// heartbeat intervals of silence (and counted), while one that sends heartbeats stays.
func TestServerDropsSilentViewer(t *testing.T) {
	srv := startServer(t, map[string]string{"HEARTBEAT_INTERVAL": "500ms"})
	m0 := srv.mustMetrics(t)
	silent := mustAccept(t, srv.addr, wire.Hello{Codec: wire.CodecJPEG, Client: "silent"}, dialOpts{noHeartbeat: true})
	talker := watch(t, srv.addr, wire.Hello{Codec: wire.CodecJPEG, Client: "talker"})
	began := time.Now()
	if _, closed := readUntilClosed(silent.c, 15*time.Second); !closed {
		t.Fatal("a viewer silent for 15 s was not dropped")
	}
	t.Logf("silent viewer dropped after %v", time.Since(began).Round(time.Millisecond))
	if d := srv.mustMetrics(t).refused("peer_silent") - m0.refused("peer_silent"); d != 1 {
		t.Errorf("peer_silent counted %v, want 1", d)
	}
	m := talker.mark()
	if !talker.waitFrames(m, 60, 10*time.Second) || talker.Err() != nil {
		t.Errorf("the viewer that sends heartbeats was dropped: %v", talker.Err())
	}
}

// Every viewer may ask for its own JPEG quality, and the server encodes each frame once per format in use. A
// hostile client that opens a viewer for each of 99 qualities must not starve the capture of the others: the
// frames published per second (by the server's capture clock) must stay above half their rate before.
func TestFormatSweepDoesNotStarveCapture(t *testing.T) {
	srv := startServer(t, map[string]string{"CAPTURE_WIDTH": "1280", "CAPTURE_HEIGHT": "720", "MAX_CLIENTS": "100"})
	good := watch(t, srv.addr, wire.Hello{Codec: wire.CodecJPEG, Client: "well-behaved"})
	if !good.waitFrames(mark{}, 10, 20*time.Second) {
		t.Fatal("no frames")
	}
	m0 := good.mark()
	if !good.waitFrames(m0, 90, 20*time.Second) {
		t.Fatalf("only %d frames before the attack", good.mark().n)
	}
	m1 := good.mark()
	before := publishRate(m0, m1)

	var wg sync.WaitGroup
	var mu sync.Mutex
	var viewers []*rawConn
	for q := 1; q <= 100; q++ {
		if q == 80 {
			continue // the server's default, shared with the well-behaved viewer
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			rc, m, err := dialRaw(srv.addr, wire.Hello{Codec: wire.CodecJPEG, Quality: uint8(q), Client: fmt.Sprint("q", q)}, dialOpts{})
			if err != nil {
				t.Errorf("quality %d: %v", q, err)
				return
			}
			if _, ok := m.(*wire.Accept); !ok {
				rc.Close()
				return
			}
			mu.Lock()
			viewers = append(viewers, rc)
			mu.Unlock()
			go drain(rc)
		}()
	}
	wg.Wait()
	defer func() {
		for _, rc := range viewers {
			rc.Close()
		}
	}()
	m2 := good.mark()
	time.Sleep(5 * time.Second)
	m3 := good.mark()
	during := publishRate(m2, m3)
	t.Logf("%d viewers with as many JPEG qualities: %.1f frames/s published before, %.1f during", len(viewers), before, during)
	if during < before/2 {
		t.Errorf("a viewer per JPEG quality cut the published frame rate from %.1f to %.1f frames/s", before, during)
	}
}

// drain reads and discards everything the server sends until the connection closes.
func drain(rc *rawConn) {
	for {
		if _, err := rc.r.Next(); err != nil {
			return
		}
	}
}

// With TLS, the TLS handshake counts in the handshake timeout: a connection that never starts it, one that
// completes it and then says nothing, and one that speaks plain camstream to the TLS port are all closed without
// an Accept, within the timeout; a TLS viewer with the right CA gets frames.
func TestTLSHandshakeBounded(t *testing.T) {
	files := tlstest.Write(t)
	srv := startServer(t, map[string]string{"TLS_CERT_FILE": files.Cert, "TLS_KEY_FILE": files.Key, "HANDSHAKE_TIMEOUT": "2s"})
	pool := x509.NewCertPool()
	pem, err := os.ReadFile(files.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool.AppendCertsFromPEM(pem)
	cfg := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
	const bound = 2*time.Second + 3*time.Second

	idle, err := net.Dial("tcp", srv.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	silent, err := tls.Dial("tcp", srv.addr, cfg)
	if err != nil {
		t.Fatalf("TLS handshake: %v", err)
	}
	defer silent.Close()
	plain, err := net.Dial("tcp", srv.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	hello, _ := wire.AppendHello(wire.AppendPreamble(nil), wire.Hello{Codec: wire.CodecJPEG})
	plain.Write(hello)

	var wg sync.WaitGroup
	for name, c := range map[string]net.Conn{"never starts TLS": idle, "TLS, then nothing": silent, "plain camstream": plain} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, _ := io.ReadAll(io.LimitReader(c, 1<<20)) // what the server sends before it closes
			if bytes.Contains(b, []byte(wire.Magic)) {
				t.Errorf("%s: the server answered in camstream", name)
			}
		}()
		c.SetDeadline(time.Now().Add(bound))
	}
	wg.Wait()
	for name, c := range map[string]net.Conn{"never starts TLS": idle, "TLS, then nothing": silent, "plain camstream": plain} {
		if _, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("%s: still open after %v: %v", name, bound, err)
		}
	}

	c, err := tls.Dial("tcp", srv.addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write(hello)
	r := wire.NewReader(c, wire.DefaultLimits())
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.ReadPreamble(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		m, err := r.Next()
		if err != nil {
			t.Fatalf("TLS viewer: %v", err)
		}
		if i == 0 {
			if _, ok := m.(*wire.Accept); !ok {
				t.Fatalf("TLS viewer: %#v", m)
			}
		}
	}
}
