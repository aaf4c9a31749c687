package hostile

import (
	"context"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/camstream/camstream/internal/matcheck"
	"github.com/camstream/camstream/pkg/viewer"
	"github.com/camstream/camstream/pkg/wire"
)

// The viewer, in this process, against a server that mixes good frames with every kind of bad picture (a JPEG
// bomb, a JPEG of another size, a truncated JPEG, bytes that are no JPEG) in both codecs, then drops the connection:
// every Mat the viewer makes is closed, on the error paths too. Run with -tags matprofile to count them
// (go test -tags matprofile -run TestViewerClosesEveryMat ./test/hostile); without the tag it still runs the paths.
func TestViewerClosesEveryMat(t *testing.T) {
	matcheck.Check(t)
	full := testJPEG()
	bgr, err := wire.AppendFrame(nil, wire.FrameHeader{Seq: 1, Captured: time.Now().UnixNano(), Codec: wire.CodecBGR,
		Width: 32, Height: 16}, make([]byte, 32*16*3))
	if err != nil {
		t.Fatal(err)
	}
	fake := startFake(t, func(c net.Conn, stop <-chan struct{}) {
		c.Write(accept(1000, 1<<20))
		for round := 0; round < 5; round++ {
			for _, b := range [][]byte{full, jpegClaiming(30000, 30000), jpegClaiming(640, 480), full[:len(full)/2], []byte("no JPEG")} {
				c.Write(frameMsg(uint64(round), b))
				c.Write(bgr)
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
			}
		}
	})
	var decoded atomic.Int64
	v := viewer.New(viewer.Config{Addr: fake.addr, Decode: true, BackoffMin: 50 * time.Millisecond,
		Log: slog.New(slog.DiscardHandler),
		Sink: func(f viewer.Frame) {
			if f.Decoded {
				decoded.Add(1)
				f.Mat.Close()
			}
		}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- v.Run(ctx) }()
	if !waitFor(20*time.Second, func() bool { return fake.conns.Load() >= 2 && decoded.Load() >= 40 }) {
		t.Errorf("viewer decoded %d frames over %d connections", decoded.Load(), fake.conns.Load())
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}
