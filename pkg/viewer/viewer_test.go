package viewer

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/camstream/camstream/internal/matcheck"
	"github.com/camstream/camstream/pkg/auth"
	"github.com/camstream/camstream/pkg/encode"
	"github.com/camstream/camstream/pkg/fanout"
	"github.com/camstream/camstream/pkg/metrics"
	"github.com/camstream/camstream/pkg/streamserver"
	"github.com/camstream/camstream/pkg/wire"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// serve runs a real stream server on addr publishing real JPEG and BGR frames of a 64x48 picture until the
// returned stop is called.
func serve(t *testing.T, addr string, token string) (stop func()) {
	t.Helper()
	hub := fanout.New[encode.Format, *encode.Frame](0)
	m := metrics.New("test")
	s := streamserver.New(streamserver.Config{Addr: addr, Hub: hub, JPEGQuality: 80, Token: auth.Token(token),
		Heartbeat: 100 * time.Millisecond, Metrics: m, Log: quiet,
		Info: func() streamserver.StreamInfo { return streamserver.StreamInfo{Width: 64, Height: 48} }})
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); s.Serve(ctx) }()
	go func() {
		defer wg.Done()
		enc := encode.New(80, m)
		defer enc.Close()
		pix := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(10, 200, 30, 0), 48, 64, gocv.MatTypeCV8UC3)
		defer pix.Close()
		for seq := uint64(1); ctx.Err() == nil; seq++ {
			cf := captureFrame(&pix)
			fr, err := enc.Encode(&cf, seq, hub.Keys())
			if err != nil {
				panic(err)
			}
			hub.Publish(fr)
			time.Sleep(10 * time.Millisecond)
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); wg.Wait(); hub.Close() }) }
	t.Cleanup(stop)
	return stop
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func TestReceiveDecodeAndReconnect(t *testing.T) {
	for _, codec := range []wire.Codec{wire.CodecJPEG, wire.CodecBGR} {
		t.Run(codec.String(), func(t *testing.T) {
			matcheck.Check(t)
			addr := freeAddr(t)
			var got atomic.Int64
			var badSize atomic.Bool
			v := New(Config{Addr: addr, Codec: codec, Decode: true, Log: quiet, BackoffMin: 20 * time.Millisecond, BackoffMax: 100 * time.Millisecond,
				Sink: func(f Frame) {
					if !f.Decoded || f.Mat.Cols() != 64 || f.Mat.Rows() != 48 {
						badSize.Store(true)
					}
					// The picture survived the trip: BGR exactly, JPEG closely.
					if b := f.Mat.GetVecbAt(10, 10); int(b[1]) < 190 {
						badSize.Store(true)
					}
					f.Mat.Close()
					got.Add(1)
				}})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error)
			go func() { done <- v.Run(ctx) }()
			// Nothing listens yet: the viewer retries and says so.
			time.Sleep(150 * time.Millisecond)
			if st := v.State(); st.Live || st.Message == "" {
				t.Fatalf("state before the server: %+v", st)
			}
			stop := serve(t, addr, "")
			waitUntil(t, func() bool { return got.Load() >= 10 })
			stop()
			waitUntil(t, func() bool { return !v.State().Live })
			n := got.Load()
			serve(t, addr, "")
			waitUntil(t, func() bool { return got.Load() >= n+10 })
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("Run: %v", err)
			}
			if badSize.Load() {
				t.Fatal("a frame came out wrong")
			}
			if r := v.Stats().Report(); r.Frames < 20 || r.Width != 64 {
				t.Fatalf("report %+v", r)
			}
		})
	}
}

func TestPermanentRefusalEndsRun(t *testing.T) {
	addr := freeAddr(t)
	serve(t, addr, "right")
	v := New(Config{Addr: addr, Token: "wrong", Log: quiet})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := v.Run(ctx)
	var ref *RefusedError
	if !errors.As(err, &ref) || ref.Code != wire.RefuseAuth {
		t.Fatalf("Run = %v, want an auth refusal", err)
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A decoding viewer slower than the stream pulls its frames: it is sent only the frames it shows (the server
// skips the others), where a viewer that only receives is sent every frame.
func TestSlowViewerPullsOnlyWhatItShows(t *testing.T) {
	matcheck.Check(t)
	addr := freeAddr(t)
	serve(t, addr, "") // 100 fps
	var shown atomic.Int64
	slow := New(Config{Addr: addr, Decode: true, Log: quiet, Sink: func(f Frame) {
		f.Mat.Close()
		time.Sleep(40 * time.Millisecond) // a viewer that manages 25 fps
		shown.Add(1)
	}})
	all := New(Config{Addr: addr, Decode: false, Log: quiet})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, v := range []*Viewer{slow, all} {
		wg.Add(1)
		go func() { defer wg.Done(); v.Run(ctx) }()
	}
	waitUntil(t, func() bool { return shown.Load() >= 20 })
	cancel()
	wg.Wait()
	rs, ra := slow.Stats().Report(), all.Stats().Report()
	t.Logf("slow viewer: %d received, %d shown, %d skipped, %d dropped by the server; receiver: %d received",
		rs.Frames, shown.Load(), rs.Skipped, rs.Dropped, ra.Frames)
	// At most the frames sent before the server read the first Ready, and one asked for while the last was shown.
	if extra := int64(rs.Frames) - shown.Load(); extra > 3 {
		t.Errorf("slow viewer received %d frames more than it showed (skipped %d): it was pushed frames", extra, rs.Skipped)
	}
	if rs.Dropped == 0 {
		t.Error("the server skipped no frame for a viewer 4 times slower than the stream")
	}
	if ra.Frames < 2*rs.Frames {
		t.Errorf("the receiver got %d frames, the slow viewer %d: the receiver should get every frame", ra.Frames, rs.Frames)
	}
}
