package streamserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/camstream/camstream/pkg/encode"
	"github.com/camstream/camstream/pkg/fanout"
	"github.com/camstream/camstream/pkg/metrics"
	"github.com/camstream/camstream/pkg/wire"
)

// refusal is a hello the server declines, with the reason sent to the viewer and the metric label.
type refusal struct {
	code   wire.RefuseCode
	reason string
	label  string
}

func (r *refusal) Error() string { return r.reason }

// handle runs one connection from accept to close.
func (s *Server) handle(ctx context.Context, c net.Conn) {
	defer c.Close()
	remote := c.RemoteAddr().String()
	ip := remote
	if h, _, err := net.SplitHostPort(remote); err == nil {
		ip = h
	}
	log := s.log.With("remote", remote)

	c.SetDeadline(time.Now().Add(s.cfg.HandshakeTimeout))
	r := wire.NewReader(c, wire.Limits{}) // viewers never send frames
	hello, err := s.readHello(r)
	s.handshaking.Add(-1)
	if err != nil {
		var ref *refusal
		switch {
		case errors.As(err, &ref):
			s.refuse(c, ref, ip)
		case errors.Is(err, wire.ErrBadMagic):
			s.count("protocol")
			if s.limits.Allow("magic:" + ip) {
				log.Warn("connection is not speaking camstream; closed", "err", err)
			}
		case errors.Is(err, os.ErrDeadlineExceeded):
			s.count("handshake_timeout")
			if s.limits.Allow("handshake:" + ip) {
				log.Warn("no hello within the handshake timeout; closed", "timeout", s.cfg.HandshakeTimeout)
			}
		default:
			s.count("protocol")
			log.Debug("handshake failed", "err", err)
		}
		return
	}
	format := encode.Format{Codec: hello.Codec}
	if hello.Codec == wire.CodecJPEG {
		format.Quality = int(hello.Quality)
		if format.Quality == 0 {
			format.Quality = s.cfg.JPEGQuality
		}
	}
	if !s.acquireIP(ip) {
		s.refuse(c, &refusal{wire.RefuseFull, fmt.Sprintf("too many viewers from %s (limit %d)", ip, s.cfg.MaxPerAddr), "per_addr_limit"}, ip)
		return
	}
	defer s.releaseIP(ip)
	// Each format in use costs an encode per frame: beyond MaxFormats, a viewer gets the server's default JPEG
	// (its Accept says so) rather than slowing the capture loop for everyone.
	defaultJPEG := encode.Format{Codec: wire.CodecJPEG, Quality: s.cfg.JPEGQuality}
	sub, err := s.cfg.Hub.SubscribeLimited(format, defaultJPEG, s.cfg.MaxFormats)
	if err == nil && sub.Key() != format {
		if s.limits.Allow("formats:" + ip) {
			log.Warn("formats in use at their limit; viewer gets the default JPEG", "asked", format.String(), "limit", s.cfg.MaxFormats)
		}
		format = sub.Key()
	}
	if err != nil {
		reason := "server is shutting down"
		if errors.Is(err, fanout.ErrFull) {
			reason = "server has its maximum number of viewers"
		}
		s.refuse(c, &refusal{wire.RefuseFull, reason, "max_clients"}, ip)
		return
	}
	defer sub.Close()

	info := s.cfg.Info()
	out := wire.AppendPreamble(make([]byte, 0, 128))
	out, err = wire.AppendAccept(out, wire.Accept{Codec: format.Codec, Quality: uint8(format.Quality),
		Width: uint16(info.Width), Height: uint16(info.Height), FPSMilli: info.FPSMilli,
		HeartbeatMillis: uint32(s.cfg.Heartbeat / time.Millisecond), MaxPayload: uint32(wire.DefaultLimits().MaxPayload),
		Server: s.cfg.ServerName})
	if err != nil {
		log.Error("build accept", "err", err)
		return
	}
	if _, err := c.Write(out); err != nil {
		log.Debug("write accept", "err", err)
		return
	}
	c.SetDeadline(time.Time{})

	gauge := s.cfg.Metrics.Viewers.WithLabelValues(metrics.TransportTCP)
	gauge.Inc()
	defer gauge.Dec()
	log.Info("viewer connected", "client", hello.Client, "format", format.String())

	connCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	readDone := make(chan struct{})
	d := newDemand()
	go func() {
		defer close(readDone)
		cancel(s.readPeer(c, r, d))
	}()
	sent, why := s.writeFrames(connCtx, c, sub, format, d)
	if ctx.Err() != nil {
		why = "server shutting down"
		goodbye(c, wire.GoodbyeShutdown, "server shutting down")
	} else if cause := context.Cause(connCtx); cause != nil && !errors.Is(cause, context.Canceled) {
		why = cause.Error()
	}
	c.Close() // ends readPeer
	<-readDone
	log.Info("viewer disconnected", "reason", why, "frames_sent", sent, "frames_dropped", sub.Dropped())
}

// readHello reads the preamble and hello and checks them; a *refusal error is to be sent back to the viewer.
func (s *Server) readHello(r *wire.Reader) (*wire.Hello, error) {
	if _, err := r.ReadPreamble(); err != nil {
		var ve *wire.VersionError
		if errors.As(err, &ve) {
			return nil, &refusal{wire.RefuseVersion, fmt.Sprintf("protocol version %d not supported; this server speaks %d", ve.Got, wire.Version), "version"}
		}
		return nil, err
	}
	m, err := r.Next()
	if err != nil {
		if errors.Is(err, wire.ErrMalformed) || errors.Is(err, wire.ErrTooLarge) || errors.Is(err, wire.ErrUnknownType) {
			return nil, &refusal{wire.RefuseBadHello, "bad hello: " + err.Error(), "bad_hello"}
		}
		return nil, err
	}
	h, ok := m.(*wire.Hello)
	if !ok {
		return nil, &refusal{wire.RefuseBadHello, fmt.Sprintf("expected a hello, got %v", m.Type()), "bad_hello"}
	}
	if !s.cfg.Token.Allows(h.Token) {
		return nil, &refusal{wire.RefuseAuth, "authentication failed: missing or wrong token", "auth"}
	}
	if h.Codec == wire.CodecJPEG && h.Quality > 100 {
		return nil, &refusal{wire.RefuseCodec, fmt.Sprintf("JPEG quality %d: want 0 (server default) or 1..100", h.Quality), "codec"}
	}
	hc := *h // the Reader reuses nothing for hellos, but keep our own copy anyway
	return &hc, nil
}

// refuse sends the server's preamble and a Refuse, logs it once per remote and counts it.
func (s *Server) refuse(c net.Conn, ref *refusal, ip string) {
	s.count(ref.label)
	if s.limits.Allow(ref.label + ":" + ip) {
		s.log.Warn("viewer refused", "remote", c.RemoteAddr().String(), "code", ref.code.String(), "reason", ref.reason)
	}
	out := wire.AppendPreamble(nil)
	out, _ = wire.AppendRefuse(out, wire.Refuse{Code: ref.code, Reason: ref.reason})
	c.SetWriteDeadline(time.Now().Add(goodbyeTimeout))
	c.Write(out)
}

func (s *Server) count(reason string) { s.cfg.Metrics.Refused.WithLabelValues(reason).Inc() }

// maxReady is how many of a viewer's Readies may wait for their frame (PROTOCOL.md §5.7); more are ignored.
const maxReady = 16

// demand is a connection's flow control (PROTOCOL.md §5.7): until the viewer's first Ready every frame is sent
// (push mode); from then on, one frame per Ready not yet answered (pull mode).
type demand struct {
	mu     sync.Mutex
	pull   bool
	owed   int           // Readies not yet answered
	wakeup chan struct{} // capacity 1: a Ready arrived
}

func newDemand() *demand { return &demand{wakeup: make(chan struct{}, 1)} }

// ready records a Ready from the viewer.
func (d *demand) ready() {
	d.mu.Lock()
	d.pull = true
	if d.owed < maxReady {
		d.owed++
	}
	d.mu.Unlock()
	select {
	case d.wakeup <- struct{}{}:
	default:
	}
}

// may reports whether a frame may be sent now.
func (d *demand) may() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return !d.pull || d.owed > 0
}

// sent records a frame sent; in pull mode it answers one Ready (a frame written just before the first Ready
// was read answers that Ready).
func (d *demand) sent() {
	d.mu.Lock()
	if d.pull && d.owed > 0 {
		d.owed--
	}
	d.mu.Unlock()
}

// readPeer reads what the viewer sends after the handshake (heartbeats, readies, goodbye) and returns why the
// connection should end: the viewer left, went silent for peerSilenceFactor heartbeats, or broke the protocol.
func (s *Server) readPeer(c net.Conn, r *wire.Reader, d *demand) error {
	silence := peerSilenceFactor * s.cfg.Heartbeat
	for {
		c.SetReadDeadline(time.Now().Add(silence))
		m, err := r.Next()
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			s.count("peer_silent")
			return fmt.Errorf("viewer silent for %v", silence)
		case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
			return errors.New("viewer closed the connection")
		case err != nil:
			s.count("protocol")
			return fmt.Errorf("viewer broke the protocol: %w", err)
		}
		switch m := m.(type) {
		case *wire.Heartbeat:
		case *wire.Ready:
			d.ready()
		case *wire.Goodbye:
			return fmt.Errorf("viewer said goodbye: %s", m.Reason)
		default:
			s.count("protocol")
			return fmt.Errorf("viewer sent an unexpected %v", m.Type())
		}
	}
}

// writeFrames sends the newest frame in format to the viewer whenever there is one (in pull mode: and the viewer
// has asked for one), and a heartbeat after a heartbeat interval of silence, until ctx ends or a write fails. It
// returns the frames sent and why it stopped.
func (s *Server) writeFrames(ctx context.Context, c net.Conn, sub *encode.Sub, format encode.Format, d *demand) (uint64, string) {
	var (
		sent, dropped uint64
		hb            = make([]byte, 0, wire.HeaderLen+8)
		framesSent    = s.cfg.Metrics.FramesSent.WithLabelValues(metrics.TransportTCP)
		bytesSent     = s.cfg.Metrics.BytesSent.WithLabelValues(metrics.TransportTCP)
		framesDropped = s.cfg.Metrics.FramesDropped.WithLabelValues(metrics.TransportTCP)
		timer         = time.NewTimer(s.cfg.Heartbeat)
	)
	defer timer.Stop()
	heartbeat := func() error {
		hb = wire.AppendHeartbeat(hb[:0], wire.Heartbeat{Sent: time.Now().UnixNano()})
		timer.Reset(s.cfg.Heartbeat)
		return s.write(c, hb)
	}
	for {
		if !d.may() {
			// Pull mode and nothing asked for: the frame waits in the subscription's slot (replaced by newer
			// ones, counted as dropped) until the viewer's next Ready.
			select {
			case <-d.wakeup:
			case <-ctx.Done():
				return sent, "stopped"
			case <-timer.C:
				if err := heartbeat(); err != nil {
					return sent, err.Error()
				}
			}
			continue
		}
		fr, err := sub.NextOrTimer(ctx, timer.C)
		switch {
		case errors.Is(err, fanout.ErrTimeout):
			if err := heartbeat(); err != nil {
				return sent, err.Error()
			}
			continue
		case err != nil:
			return sent, "stopped"
		}
		enc, ok := fr.Get(format)
		if !ok {
			continue // published before this viewer's format was in use
		}
		if err := s.write(c, enc.Msg); err != nil {
			return sent, err.Error()
		}
		d.sent()
		sent++
		framesSent.Inc()
		bytesSent.Add(float64(len(enc.Msg)))
		if d := sub.Dropped(); d != dropped {
			framesDropped.Add(float64(d - dropped))
			dropped = d
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(s.cfg.Heartbeat)
	}
}

// write sends b within the write timeout; a viewer that cannot take it in time is too slow and is dropped.
func (s *Server) write(c net.Conn, b []byte) error {
	c.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
	if _, err := c.Write(b); err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			s.count("slow")
			// Keyed by IP like every other limit: one log line per remote address, however many of its
			// connections stop reading.
			remote := c.RemoteAddr().String()
			ip := remote
			if h, _, err := net.SplitHostPort(remote); err == nil {
				ip = h
			}
			if s.limits.Allow("slow:" + ip) {
				s.log.Warn("viewer stopped reading; dropped", "remote", remote, "write_timeout", s.cfg.WriteTimeout)
			}
			return fmt.Errorf("write timed out after %v: viewer too slow", s.cfg.WriteTimeout)
		}
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// goodbye tells the viewer why the server is closing, without waiting long for it.
func goodbye(c net.Conn, code wire.GoodbyeCode, reason string) {
	b, err := wire.AppendGoodbye(nil, wire.Goodbye{Code: code, Reason: reason})
	if err != nil {
		return
	}
	c.SetWriteDeadline(time.Now().Add(goodbyeTimeout))
	c.Write(b)
}
