package e2e

import (
	"bytes"
	"encoding/json"
	"image/jpeg"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/camstream/camstream/pkg/wire"
)

// Three viewers of one test-pattern server each receive frames in order, with the right size, as JPEGs that an
// independent decoder (the standard library's) reads.
func TestThreeViewersReceiveOrderedDecodableFrames(t *testing.T) {
	_, addr := startServer(t, map[string]string{"CAPTURE_FPS": "30"})
	var wg sync.WaitGroup
	results := make([][]frame, 3)
	for i := range results {
		rc, acc := mustAccept(t, addr, wire.Hello{Codec: wire.CodecJPEG, Client: "e2e"})
		if acc.Codec != wire.CodecJPEG || acc.Quality != 80 || acc.HeartbeatMillis == 0 {
			t.Errorf("accept = %+v", acc)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = rc.frames(t, 20, 10*time.Second)
		}()
	}
	wg.Wait()
	for i, fs := range results {
		if len(fs) < 20 {
			t.Fatalf("viewer %d got %d frames", i, len(fs))
		}
		for j, f := range fs {
			if j > 0 && f.Seq <= fs[j-1].Seq {
				t.Errorf("viewer %d: seq %d after %d", i, f.Seq, fs[j-1].Seq)
			}
			if f.Width != 320 || f.Height != 240 || f.Codec != wire.CodecJPEG || f.Flags&wire.FlagNoSignal != 0 {
				t.Fatalf("viewer %d frame %d header %+v", i, j, f.FrameHeader)
			}
			img, err := jpeg.Decode(bytes.NewReader(f.payload))
			if err != nil {
				t.Fatalf("viewer %d frame %d: %v", i, j, err)
			}
			if b := img.Bounds(); b.Dx() != 320 || b.Dy() != 240 {
				t.Fatalf("viewer %d frame %d decodes to %v", i, j, b)
			}
			if age := time.Since(time.Unix(0, f.Captured)); age < 0 || age > 10*time.Second {
				t.Errorf("capture timestamp %v ago", age)
			}
		}
	}
	// Same sequence number means the same bytes: the frame was encoded once for everyone.
	bySeq := map[uint64][]byte{}
	shared := 0
	for _, fs := range results {
		for _, f := range fs {
			if prev, ok := bySeq[f.Seq]; ok {
				shared++
				if !bytes.Equal(prev, f.payload) {
					t.Fatalf("frame %d differs between viewers", f.Seq)
				}
			}
			bySeq[f.Seq] = f.payload
		}
	}
	if shared == 0 {
		t.Error("no frame was seen by two viewers")
	}
}

// A viewer that stops reading does not lower the others' rate, and is dropped after the write timeout.
func TestFrozenViewerDoesNotSlowOthers(t *testing.T) {
	srv, addr := startServer(t, map[string]string{"CAPTURE_FPS": "30", "CAPTURE_WIDTH": "1280", "CAPTURE_HEIGHT": "720",
		"WRITE_TIMEOUT": "1s", "LOG_FORMAT": "json"})
	frozen, _ := mustAccept(t, addr, wire.Hello{Codec: wire.CodecBGR}) // 2.7 MB frames fill its buffers at once
	if tc, ok := frozen.c.(*net.TCPConn); ok {
		tc.SetReadBuffer(4096)
	}
	good, _ := mustAccept(t, addr, wire.Hello{Codec: wire.CodecJPEG})
	fs := good.frames(t, 90, 20*time.Second)
	if len(fs) < 90 {
		t.Fatalf("good viewer got %d frames", len(fs))
	}
	span := fs[len(fs)-1].Seq - fs[0].Seq + 1
	if ratio := float64(len(fs)) / float64(span); ratio < 0.9 {
		t.Errorf("good viewer received %d of %d frames published meanwhile (%.0f%%)", len(fs), span, 100*ratio)
	}
	if !waitFor(5*time.Second, func() bool { return strings.Contains(srv.Output(), "viewer stopped reading; dropped") }) {
		t.Errorf("frozen viewer was not dropped:\n%s", srv.Output())
	}
}

// A headless client survives the server being killed and started again, without being restarted itself.
func TestClientSurvivesServerRestart(t *testing.T) {
	srv, addr := startServer(t, map[string]string{"CAPTURE_FPS": "30"})
	cli := start(t, "client", map[string]string{"SERVER_ADDR": addr, "VIEWER_DISPLAY": "none", "LOG_FORMAT": "json",
		"STATS_INTERVAL": "200ms"})
	framesNow := func() float64 {
		ls := linesWith(cli.Output(), "stats")
		if len(ls) == 0 {
			return 0
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(ls[len(ls)-1]), &rec); err != nil {
			t.Fatalf("stats line %q: %v", ls[len(ls)-1], err)
		}
		for _, k := range []string{"frames", "fps", "latency_p50_ms", "latency_p99_ms", "dropped", "width", "height"} {
			if _, ok := rec[k]; !ok {
				t.Fatalf("stats line lacks %q: %s", k, ls[len(ls)-1])
			}
		}
		return rec["frames"].(float64)
	}
	if !waitFor(10*time.Second, func() bool { return framesNow() >= 10 }) {
		t.Fatalf("client received no frames:\n%s", cli.Output())
	}
	srv.Signal(syscall.SIGKILL)
	srv.Wait(5 * time.Second)
	time.Sleep(500 * time.Millisecond)
	before := framesNow()
	startServer(t, map[string]string{"LISTEN_ADDR": addr, "CAPTURE_FPS": "30"})
	if !waitFor(20*time.Second, func() bool { return framesNow() >= before+10 }) {
		t.Fatalf("client did not receive again after the restart (frames %v):\n%s", framesNow(), cli.Output())
	}
	if cli.Wait(0) >= 0 {
		t.Fatal("client exited")
	}
	if n := len(linesWith(cli.Output(), "connected")); n < 2 {
		t.Errorf("client logged %d connections, want 2", n)
	}
}

// A refused hello is reported: the client names the reason and exits 1; the raw protocol says why too.
func TestRefusals(t *testing.T) {
	_, addr := startServer(t, map[string]string{"AUTH_TOKEN": "s3cret-token", "MAX_CLIENTS": "1"})
	cli := start(t, "client", map[string]string{"SERVER_ADDR": addr, "VIEWER_DISPLAY": "none", "AUTH_TOKEN": "wrong"})
	if code := cli.Wait(10 * time.Second); code != 1 {
		t.Fatalf("client with a wrong token: exit %d, want 1:\n%s", code, cli.Output())
	}
	if out := cli.Output(); !strings.Contains(out, "refused") || !strings.Contains(out, "authentication") {
		t.Errorf("client output does not report the refusal:\n%s", out)
	}
	tests := []struct {
		name string
		h    wire.Hello
		code wire.RefuseCode
	}{
		{"no token", wire.Hello{Codec: wire.CodecJPEG}, wire.RefuseAuth},
		{"wrong token", wire.Hello{Codec: wire.CodecJPEG, Token: "s3cret-tokeN"}, wire.RefuseAuth},
		{"quality", wire.Hello{Codec: wire.CodecJPEG, Quality: 101, Token: "s3cret-token"}, wire.RefuseCodec},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, m := dial(t, addr, tc.h)
			ref, ok := m.(*wire.Refuse)
			if !ok || ref.Code != tc.code || ref.Reason == "" {
				t.Fatalf("answer %#v, want Refuse %v", m, tc.code)
			}
		})
	}
	t.Run("full", func(t *testing.T) {
		mustAccept(t, addr, wire.Hello{Codec: wire.CodecJPEG, Token: "s3cret-token"})
		_, m := dial(t, addr, wire.Hello{Codec: wire.CodecJPEG, Token: "s3cret-token"})
		if ref, ok := m.(*wire.Refuse); !ok || ref.Code != wire.RefuseFull {
			t.Fatalf("answer %#v, want Refuse full", m)
		}
	})
	t.Run("version", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write([]byte{'C', 'A', 'M', 'S', 0, 9})
		c.SetDeadline(time.Now().Add(5 * time.Second))
		r := wire.NewReader(c, wire.Limits{})
		if v, err := r.ReadPreamble(); err != nil || v != wire.Version {
			t.Fatalf("server preamble %d %v", v, err)
		}
		m, err := r.Next()
		if ref, ok := m.(*wire.Refuse); err != nil || !ok || ref.Code != wire.RefuseVersion || !strings.Contains(ref.Reason, "9") {
			t.Fatalf("answer %#v %v, want Refuse version", m, err)
		}
	})
}

// SIGTERM: the server says goodbye to its viewers and exits 0 within 2 seconds.
func TestGracefulShutdown(t *testing.T) {
	srv, addr := startServer(t, nil)
	rc, _ := mustAccept(t, addr, wire.Hello{Codec: wire.CodecJPEG})
	rc.frames(t, 3, 5*time.Second)
	began := time.Now()
	srv.Signal(syscall.SIGTERM)
	if code := srv.Wait(2 * time.Second); code != 0 {
		t.Fatalf("exit %d after %v (-1: still running), want 0 within 2s", code, time.Since(began))
	}
	rc.c.SetReadDeadline(time.Now().Add(2 * time.Second))
	for {
		m, err := rc.r.Next()
		if err != nil {
			t.Fatalf("no goodbye before the connection ended: %v", err)
		}
		if g, ok := m.(*wire.Goodbye); ok {
			if g.Code != wire.GoodbyeShutdown {
				t.Fatalf("goodbye %+v", g)
			}
			return
		}
	}
}

// Without its camera the server keeps running and sends the NO SIGNAL card about twice a second.
func TestNoSignalCard(t *testing.T) {
	_, addr := startServer(t, map[string]string{"CAPTURE_SOURCE": "/dev/video0"})
	rc, _ := mustAccept(t, addr, wire.Hello{Codec: wire.CodecJPEG})
	began := time.Now()
	fs := rc.frames(t, 3, 5*time.Second)
	if len(fs) < 3 {
		t.Fatalf("got %d cards", len(fs))
	}
	for _, f := range fs {
		if f.Flags&wire.FlagNoSignal == 0 || f.Width != 320 || f.Height != 240 {
			t.Fatalf("frame %+v is not a 320x240 NO SIGNAL card", f.FrameHeader)
		}
		if _, err := jpeg.Decode(bytes.NewReader(f.payload)); err != nil {
			t.Fatal(err)
		}
	}
	if el := time.Since(began); el < 500*time.Millisecond {
		t.Errorf("3 cards in %v: faster than the card interval", el)
	}
}

// Settings: a bad value exits 2 naming the variable, the value and what is allowed; -h lists every variable.
func TestConfigErrorsAndHelp(t *testing.T) {
	tests := []struct {
		prog string
		env  map[string]string
		want string
	}{
		{"server", map[string]string{"CAPTURE_FPS": "fast"}, `CAPTURE_FPS="fast": want a number from 0 to 240`},
		{"server", map[string]string{"JPEG_QUALITY": "0"}, `JPEG_QUALITY="0": want an integer from 1 to 100`},
		{"server", map[string]string{"LOG_FORMAT": "xml"}, `LOG_FORMAT="xml": want one of text, json`},
		{"server", map[string]string{"LISTEN_ADDR": "8485"}, `LISTEN_ADDR="8485"`},
		{"client", map[string]string{"VIEWER_DISPLAY": "tv"}, `VIEWER_DISPLAY="tv": want one of auto, window, none`},
		{"client", map[string]string{"STATS_INTERVAL": "5"}, `STATS_INTERVAL="5": want a duration`},
		{"client", map[string]string{"SERVER_ADDR": "nohost"}, `SERVER_ADDR="nohost"`},
	}
	for _, tc := range tests {
		t.Run(tc.prog+" "+tc.want, func(t *testing.T) {
			p := start(t, tc.prog, tc.env)
			if code := p.Wait(5 * time.Second); code != 2 {
				t.Fatalf("exit %d, want 2:\n%s", code, p.Output())
			}
			if !strings.Contains(p.Output(), tc.want) {
				t.Errorf("output lacks %q:\n%s", tc.want, p.Output())
			}
		})
	}
	for prog, vars := range map[string][]string{
		"server": {"CAPTURE_SOURCE", "CAPTURE_WIDTH", "CAPTURE_HEIGHT", "CAPTURE_FPS", "JPEG_QUALITY", "LISTEN_ADDR", "HTTP_ADDR", "AUTH_TOKEN", "LOG_FORMAT", "LOG_LEVEL"},
		"client": {"SERVER_ADDR", "VIEWER_DISPLAY", "VIEWER_DECODE", "AUTH_TOKEN", "STATS_INTERVAL", "LOG_FORMAT", "LOG_LEVEL"},
	} {
		out, err := exec.Command(filepath.Join(binDir, prog), "-h").CombinedOutput()
		if err != nil {
			t.Fatalf("%s -h: %v", prog, err)
		}
		for _, v := range vars {
			if !strings.Contains(string(out), v) {
				t.Errorf("%s -h does not list %s", prog, v)
			}
		}
	}
}

// A video file made by ffmpeg serves as a source: an MJPEG AVI's own JPEGs reach the viewer byte for byte
// (passthrough), and an MPEG-4 file is decoded and encoded.
func TestVideoFileSources(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Fatal("ffmpeg is required (apt-get install ffmpeg)")
	}
	dir := t.TempDir()
	avi := filepath.Join(dir, "clip.avi")
	mp4 := filepath.Join(dir, "clip.mp4")
	for _, args := range [][]string{
		{"-f", "lavfi", "-i", "testsrc=size=320x240:rate=30", "-frames:v", "30", "-c:v", "mjpeg", "-q:v", "4", avi},
		{"-f", "lavfi", "-i", "testsrc=size=352x288:rate=30", "-frames:v", "30", "-c:v", "mpeg4", mp4},
		{"-i", avi, "-c:v", "copy", "-f", "image2", filepath.Join(dir, "f%03d.jpg")},
	} {
		if out, err := exec.Command("ffmpeg", append([]string{"-v", "error", "-y"}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("ffmpeg %v: %v\n%s", args, err, out)
		}
	}
	fileFrames := map[string]bool{}
	paths, _ := filepath.Glob(filepath.Join(dir, "f*.jpg"))
	for _, p := range paths {
		b, _ := os.ReadFile(p)
		fileFrames[string(b)] = true
	}
	if len(fileFrames) < 10 {
		t.Fatalf("extracted %d distinct frames", len(fileFrames))
	}
	t.Run("mjpeg passthrough", func(t *testing.T) {
		_, addr := startServer(t, map[string]string{"CAPTURE_SOURCE": avi, "CAPTURE_FPS": "60"})
		rc, _ := mustAccept(t, addr, wire.Hello{Codec: wire.CodecJPEG})
		fs := rc.frames(t, 45, 10*time.Second) // more than the file holds: it loops
		if len(fs) < 45 {
			t.Fatalf("got %d frames", len(fs))
		}
		for i, f := range fs {
			if f.Width != 320 || f.Height != 240 {
				t.Fatalf("frame %d is %dx%d", i, f.Width, f.Height)
			}
			if !fileFrames[string(f.payload)] {
				t.Fatalf("frame %d (%d bytes) is not one of the file's JPEGs byte for byte", i, len(f.payload))
			}
		}
	})
	t.Run("mjpeg with passthrough off", func(t *testing.T) {
		_, addr := startServer(t, map[string]string{"CAPTURE_SOURCE": avi, "CAPTURE_PASSTHROUGH": "off"})
		rc, _ := mustAccept(t, addr, wire.Hello{Codec: wire.CodecJPEG})
		for _, f := range rc.frames(t, 5, 10*time.Second) {
			if fileFrames[string(f.payload)] {
				t.Fatal("passthrough off, yet the file's own JPEG was sent")
			}
			if _, err := jpeg.Decode(bytes.NewReader(f.payload)); err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Run("mpeg4 decoded", func(t *testing.T) {
		_, addr := startServer(t, map[string]string{"CAPTURE_SOURCE": mp4})
		rc, _ := mustAccept(t, addr, wire.Hello{Codec: wire.CodecBGR})
		fs := rc.frames(t, 5, 10*time.Second)
		if len(fs) < 5 {
			t.Fatalf("got %d frames", len(fs))
		}
		for _, f := range fs {
			if f.Width != 352 || f.Height != 288 || len(f.payload) != 352*288*3 || f.Codec != wire.CodecBGR {
				t.Fatalf("frame %+v with %d bytes", f.FrameHeader, len(f.payload))
			}
		}
	})
}
