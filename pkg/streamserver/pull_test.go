package streamserver

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/camstream/camstream/pkg/wire"
)

// The Ready count a demand keeps: each Ready lets one frame through, at most maxReady wait, and push mode (no
// Ready yet) lets every frame through.
func TestDemand(t *testing.T) {
	tests := []struct {
		name    string
		readies int
		want    int // frames that may be sent before may() turns false; -1 = push mode, unlimited
	}{
		{"push until the first ready", 0, -1},
		{"one ready, one frame", 1, 1},
		{"readies add up", 5, 5},
		{"at most maxReady", 3 * maxReady, maxReady},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newDemand()
			for range tc.readies {
				d.ready()
			}
			n := 0
			for d.may() && n < 1000 {
				d.sent()
				n++
			}
			if tc.want < 0 {
				if n != 1000 {
					t.Errorf("push mode stopped after %d frames", n)
				}
				return
			}
			if n != tc.want {
				t.Errorf("%d frames may be sent, want %d", n, tc.want)
			}
			d.ready()
			if !d.may() {
				t.Error("a new ready does not let a frame through")
			}
		})
	}
}

// A viewer in pull mode gets one frame per Ready, the newest the server has, and nothing in between but heartbeats.
func TestPullMode(t *testing.T) {
	ts := newTestServer(t, nil)
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var wmu sync.Mutex
	send := func(b []byte) {
		wmu.Lock()
		defer wmu.Unlock()
		if _, err := c.Write(b); err != nil {
			t.Errorf("write: %v", err)
		}
	}
	send(hello(t, wire.Hello{Codec: wire.CodecJPEG}))
	r := wire.NewReader(c, wire.DefaultLimits())
	if _, err := r.ReadPreamble(); err != nil {
		t.Fatal(err)
	}
	if m, err := r.Next(); err != nil || m.Type() != wire.MsgAccept {
		t.Fatalf("answer %v, %v", m, err)
	}
	// Keep the connection alive: the server drops viewers silent for 3 heartbeats (100 ms each here).
	done := make(chan struct{})
	defer close(done)
	go func() {
		tick := time.NewTicker(40 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				send(wire.AppendHeartbeat(nil, wire.Heartbeat{Sent: time.Now().UnixNano()}))
			}
		}
	}()
	// frames reads for d and returns the frames received (heartbeats are skipped).
	frames := func(d time.Duration) []uint64 {
		var seqs []uint64
		end := time.Now().Add(d)
		for {
			c.SetReadDeadline(end)
			m, err := r.Next()
			if err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() || time.Now().After(end) {
					return seqs
				}
				t.Fatalf("read: %v", err)
			}
			if f, ok := m.(*wire.Frame); ok {
				seqs = append(seqs, f.Seq)
			}
		}
	}

	send(wire.AppendReady(nil))
	if got := frames(300 * time.Millisecond); len(got) == 0 {
		t.Fatal("no frame for the first ready")
	}
	// Frames written before the server read the Ready may have come too; from now on only what is asked for.
	if got := frames(400 * time.Millisecond); len(got) != 0 {
		t.Fatalf("%d frames without a ready (server publishes at 100 fps): %v", len(got), got)
	}
	for _, ask := range []int{1, 3} {
		latest, _ := ts.hub.Latest()
		for range ask {
			send(wire.AppendReady(nil))
		}
		got := frames(400 * time.Millisecond)
		if len(got) != ask {
			t.Fatalf("%d readies answered by %d frames: %v", ask, len(got), got)
		}
		if got[0] < latest.Seq {
			t.Errorf("answered with frame %d, older than the newest (%d) when asked", got[0], latest.Seq)
		}
		for i := 1; i < len(got); i++ {
			if got[i] <= got[i-1] {
				t.Errorf("frames out of order: %v", got)
			}
		}
	}
}
