// Package viewer is the client side of the camstream protocol: it dials the server, says hello, receives
// frames, decodes the newest one (dropping, never queueing, when decoding is slower than the stream), and
// reconnects forever with exponential backoff and jitter. It knows nothing about windows: decoded frames go to
// a Sink.
package viewer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"gocv.io/x/gocv"

	"github.com/camstream/camstream/pkg/wire"
)

// Defaults for Config.
const (
	DefaultBackoffMin  = 250 * time.Millisecond
	DefaultBackoffMax  = 10 * time.Second
	DefaultDialTimeout = 5 * time.Second
	// stableAfter is how long a connection must last for the backoff to start again from its minimum.
	stableAfter = 5 * time.Second
)

// Frame is one frame handed to the Sink.
type Frame struct {
	Header wire.FrameHeader
	// Decoded is true when Mat holds the decoded BGR picture; the Sink then owns Mat and must Close it.
	Decoded bool
	Mat     gocv.Mat
	Latency time.Duration
}

// State is the viewer's connection state, for displays.
type State struct {
	Live    bool
	Message string // e.g. "live", "connecting to host:8485…", "reconnecting to host:8485… (connection refused)"
}

// Config configures a Viewer.
type Config struct {
	Addr    string
	Token   string
	Codec   wire.Codec // default JPEG
	Quality uint8      // 0 = the server's default
	Decode  bool
	TLS     *tls.Config // nil = plain TCP
	Name    string      // sent in the hello, informational
	// Sink receives every decoded frame (or every received frame when Decode is off, with an empty Mat) on the
	// decoding goroutine. It takes ownership of a decoded Frame.Mat. Nil discards frames.
	Sink        func(Frame)
	BackoffMin  time.Duration
	BackoffMax  time.Duration
	DialTimeout time.Duration
	Log         *slog.Logger
}

// RefusedError is the server's refusal of the hello.
type RefusedError struct {
	Code   wire.RefuseCode
	Reason string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("server refused the connection (%v): %s", e.Code, e.Reason)
}

// Viewer receives a stream. Create with New, then Run.
type Viewer struct {
	cfg   Config
	log   *slog.Logger
	stats *Stats

	mu       sync.Mutex
	state    State
	accepted wire.Accept
}

// New returns a Viewer with defaults filled in.
func New(cfg Config) *Viewer {
	if cfg.Codec == 0 {
		cfg.Codec = wire.CodecJPEG
	}
	if cfg.BackoffMin <= 0 {
		cfg.BackoffMin = DefaultBackoffMin
	}
	if cfg.BackoffMax < cfg.BackoffMin {
		cfg.BackoffMax = max(DefaultBackoffMax, cfg.BackoffMin)
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Name == "" {
		cfg.Name = "camstream-client"
	}
	return &Viewer{cfg: cfg, log: cfg.Log, stats: NewStats(),
		state: State{Message: "connecting to " + cfg.Addr + "…"}}
}

// Stats returns the viewer's statistics.
func (v *Viewer) Stats() *Stats { return v.stats }

// State returns the connection state.
func (v *Viewer) State() State {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.state
}

func (v *Viewer) setState(live bool, msg string) {
	v.mu.Lock()
	v.state = State{Live: live, Message: msg}
	v.mu.Unlock()
}

// Accepted returns the stream parameters of the last accepted connection (zero before the first).
func (v *Viewer) Accepted() wire.Accept {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.accepted
}

// Run connects and receives until ctx is done (returning nil), reconnecting with backoff after every failure.
// A refusal that retrying cannot fix (authentication, version, format) ends Run with a *RefusedError.
func (v *Viewer) Run(ctx context.Context) error {
	backoff := v.cfg.BackoffMin
	lastErr := ""
	for {
		start := time.Now()
		err := v.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var ref *RefusedError
		if errors.As(err, &ref) && !ref.Code.Temporary() {
			v.setState(false, err.Error())
			return err
		}
		if time.Since(start) > stableAfter {
			backoff = v.cfg.BackoffMin
		}
		// Full jitter around the current step keeps many viewers from reconnecting in lockstep.
		wait := backoff/2 + rand.N(backoff/2+1)
		msg := fmt.Sprintf("reconnecting to %s… (%v)", v.cfg.Addr, err)
		v.setState(false, msg)
		if e := err.Error(); e != lastErr { // once per state change, not once per retry
			v.log.Warn("disconnected; reconnecting with backoff", "addr", v.cfg.Addr, "err", err)
			lastErr = e
		} else {
			v.log.Debug("reconnect failed", "addr", v.cfg.Addr, "err", err, "retry_in", wait)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		backoff = min(2*backoff, v.cfg.BackoffMax)
	}
}

// session is one connection: dial, handshake, receive until something fails.
func (v *Viewer) session(ctx context.Context) error {
	d := net.Dialer{Timeout: v.cfg.DialTimeout}
	c, err := d.DialContext(ctx, "tcp", v.cfg.Addr)
	if err != nil {
		return fmt.Errorf("dial %s: %w", v.cfg.Addr, err)
	}
	if v.cfg.TLS != nil {
		tc := tls.Client(c, v.cfg.TLS)
		tc.SetDeadline(time.Now().Add(v.cfg.DialTimeout))
		if err := tc.HandshakeContext(ctx); err != nil {
			c.Close()
			return fmt.Errorf("TLS handshake with %s: %w", v.cfg.Addr, err)
		}
		c = tc
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()

	acc, r, err := v.handshake(c)
	if err != nil {
		return err
	}
	hb := time.Duration(acc.HeartbeatMillis) * time.Millisecond
	if hb <= 0 {
		hb = time.Second
	}
	v.stats.Connected()
	v.mu.Lock()
	v.accepted = *acc
	v.mu.Unlock()
	v.setState(true, "live")
	v.log.Info("connected", "addr", v.cfg.Addr, "server", acc.Server, "codec", acc.Codec.String(),
		"width", acc.Width, "height", acc.Height)
	return v.receive(ctx, c, r, hb)
}

// handshake sends the preamble and hello and reads the server's answer.
func (v *Viewer) handshake(c net.Conn) (*wire.Accept, *wire.Reader, error) {
	c.SetDeadline(time.Now().Add(v.cfg.DialTimeout))
	out := wire.AppendPreamble(nil)
	out, err := wire.AppendHello(out, wire.Hello{Codec: v.cfg.Codec, Quality: v.cfg.Quality, Token: v.cfg.Token, Client: v.cfg.Name})
	if err != nil {
		return nil, nil, &RefusedError{Code: wire.RefuseBadHello, Reason: "cannot build hello: " + err.Error()}
	}
	if _, err := c.Write(out); err != nil {
		return nil, nil, fmt.Errorf("send hello: %w", err)
	}
	r := wire.NewReader(c, wire.Limits{})
	if _, err := r.ReadPreamble(); err != nil {
		var ve *wire.VersionError
		if !errors.As(err, &ve) {
			return nil, nil, fmt.Errorf("read server preamble: %w", err)
		}
		// The server speaks another version; its Refuse (same framing) says why.
	}
	m, err := r.Next()
	if err != nil {
		return nil, nil, fmt.Errorf("read server answer: %w", err)
	}
	switch m := m.(type) {
	case *wire.Refuse:
		return nil, nil, &RefusedError{Code: m.Code, Reason: m.Reason}
	case *wire.Accept:
		lim := wire.DefaultLimits()
		if mp := int(m.MaxPayload); mp > 0 && mp < lim.MaxPayload {
			lim.MaxPayload = mp
		}
		r.SetLimits(lim)
		c.SetDeadline(time.Time{})
		acc := *m
		return &acc, r, nil
	default:
		return nil, nil, fmt.Errorf("server answered the hello with %v", m.Type())
	}
}

// SetSink sets Config.Sink; call it before Run.
func (v *Viewer) SetSink(sink func(Frame)) { v.cfg.Sink = sink }
