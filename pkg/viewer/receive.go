package viewer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"gocv.io/x/gocv"

	"github.com/camstream/camstream/pkg/jpeg"
	"github.com/camstream/camstream/pkg/wire"
)

// silenceFactor heartbeat intervals without a byte from the server mean the connection is dead.
const silenceFactor = 3

// pending is a received frame waiting for the decoder; buf is owned by the slot until taken.
type pending struct {
	hdr wire.FrameHeader
	buf []byte
}

// latest is a one-frame mailbox between the network reader and the decoder: a newer frame replaces an older
// one that was not decoded yet, so the viewer drops frames instead of queueing them.
type latest struct {
	mu    sync.Mutex
	p     pending
	full  bool
	asked int // pull mode: Readies sent and not yet answered by a frame
	ready chan struct{}
	spare [][]byte // payload buffers to reuse (JPEG only; a BGR buffer becomes a Mat's memory)
}

func newLatest() *latest { return &latest{ready: make(chan struct{}, 1)} }

// put copies payload into the slot; it reports whether an undecoded frame was replaced, and whether the frame
// answers a Ready.
func (l *latest) put(hdr wire.FrameHeader, payload []byte) (replaced, answered bool) {
	l.mu.Lock()
	if l.asked > 0 {
		l.asked--
		answered = true
	}
	var buf []byte
	switch {
	case l.full:
		buf, replaced = l.p.buf, true
	case len(l.spare) > 0:
		buf, l.spare = l.spare[len(l.spare)-1], l.spare[:len(l.spare)-1]
	}
	if hdr.Codec == wire.CodecBGR {
		buf = nil // the decoder hands BGR buffers to a Mat: never reuse them
	}
	l.p = pending{hdr: hdr, buf: append(buf[:0], payload...)}
	l.full = true
	l.mu.Unlock()
	select {
	case l.ready <- struct{}{}:
	default:
	}
	return replaced, answered
}

func (l *latest) take(ctx context.Context) (pending, bool) {
	for {
		l.mu.Lock()
		if l.full {
			p := l.p
			l.p, l.full = pending{}, false
			l.mu.Unlock()
			return p, true
		}
		l.mu.Unlock()
		select {
		case <-l.ready:
		case <-ctx.Done():
			return pending{}, false
		}
	}
}

// claimAsk reports whether a Ready should be sent now: none is outstanding and no frame waits for the decoder.
// When it returns true the Ready counts as sent.
func (l *latest) claimAsk() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.full || l.asked > 0 {
		return false
	}
	l.asked++
	return true
}

func (l *latest) recycle(buf []byte) {
	l.mu.Lock()
	if len(l.spare) < 2 {
		l.spare = append(l.spare, buf)
	}
	l.mu.Unlock()
}

// receive runs one accepted connection: a reader (this goroutine), a decoder and a heartbeat sender. A decoding
// viewer pulls its frames (one Ready per frame it is ready to decode); a viewer that only receives takes every
// frame the server sends.
func (v *Viewer) receive(ctx context.Context, c net.Conn, r *wire.Reader, hb time.Duration) error {
	connCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// Wake a blocked read when the viewer is stopped, so it can still say goodbye.
	stop := context.AfterFunc(connCtx, func() { c.SetReadDeadline(time.Now()) })
	defer stop()

	var (
		wg  sync.WaitGroup
		wmu sync.Mutex // serialises writes: heartbeats and the goodbye
	)
	write := func(b []byte) error {
		wmu.Lock()
		defer wmu.Unlock()
		c.SetWriteDeadline(time.Now().Add(silenceFactor * hb))
		_, err := c.Write(b)
		return err
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(hb)
		defer t.Stop()
		buf := make([]byte, 0, wire.HeaderLen+8)
		for {
			select {
			case <-connCtx.Done():
				return
			case <-t.C:
				buf = wire.AppendHeartbeat(buf[:0], wire.Heartbeat{Sent: time.Now().UnixNano()})
				if err := write(buf); err != nil {
					cancel(fmt.Errorf("send heartbeat: %w", err))
					return
				}
			}
		}
	}()
	slot := newLatest()
	var pull *puller
	if v.cfg.Decode {
		pull = newPuller(slot, write, func(err error) { cancel(err) })
		defer pull.stop()
		wg.Add(1)
		go func() {
			defer wg.Done()
			v.decodeLoop(connCtx, slot, pull)
		}()
	}
	err := v.readLoop(connCtx, c, r, hb, slot, pull)
	cancel(err)
	wg.Wait()
	if ctx.Err() != nil {
		if b, e := wire.AppendGoodbye(nil, wire.Goodbye{Code: wire.GoodbyeClient, Reason: "viewer closing"}); e == nil {
			write(b)
		}
		return ctx.Err()
	}
	return err
}

// readLoop reads messages until the connection fails, the server says goodbye, or ctx ends.
func (v *Viewer) readLoop(ctx context.Context, c net.Conn, r *wire.Reader, hb time.Duration, slot *latest, pull *puller) error {
	silence := silenceFactor * hb
	for {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		c.SetReadDeadline(time.Now().Add(silence))
		if ctx.Err() != nil { // stopped between the check above and the deadline: don't wait out the silence
			return context.Cause(ctx)
		}
		m, err := r.Next()
		if err != nil {
			switch {
			case ctx.Err() != nil:
				return context.Cause(ctx)
			case errors.Is(err, os.ErrDeadlineExceeded):
				return fmt.Errorf("server silent for %v", silence)
			case errors.Is(err, io.EOF):
				return errors.New("server closed the connection")
			}
			return fmt.Errorf("receive: %w", err)
		}
		switch m := m.(type) {
		case *wire.Frame:
			v.stats.Received(m.Seq)
			if !v.cfg.Decode {
				v.stats.Shown(time.Since(time.Unix(0, m.Captured)), int(m.Width), int(m.Height), m.Flags&wire.FlagNoSignal != 0)
				if v.cfg.Sink != nil {
					v.cfg.Sink(Frame{Header: m.FrameHeader, Latency: time.Since(time.Unix(0, m.Captured))})
				}
				continue
			}
			replaced, answered := slot.put(m.FrameHeader, m.Payload)
			if replaced {
				v.stats.Skipped()
			}
			if answered {
				pull.answered(time.Now())
			}
		case *wire.Heartbeat:
		case *wire.Goodbye:
			return fmt.Errorf("server said goodbye: %s", m.Reason)
		default:
			return fmt.Errorf("server sent an unexpected %v", m.Type())
		}
	}
}

// decodeLoop decodes the newest received frame and hands it to the sink, asking pull for each next frame.
func (v *Viewer) decodeLoop(ctx context.Context, slot *latest, pull *puller) {
	logged := map[string]time.Time{}
	pull.ask()
	for {
		p, ok := slot.take(ctx)
		if !ok {
			return
		}
		started := pull.taken()
		m, err := decode(p)
		v.stats.Decoded(time.Since(started))
		if p.hdr.Codec == wire.CodecJPEG {
			slot.recycle(p.buf)
		}
		v.show(p.hdr, m, err, logged)
		pull.done(time.Since(started))
	}
}

// show hands a decoded frame to the sink, or logs why it could not be decoded: once per kind of problem per
// minute, so a server that sends nothing but bad frames, or varies them, cannot flood the log.
func (v *Viewer) show(hdr wire.FrameHeader, m gocv.Mat, err error, logged map[string]time.Time) {
	if err != nil {
		key := err.Error()
		var be *badFrame
		if errors.As(err, &be) {
			key = be.kind
		}
		if now := time.Now(); now.Sub(logged[key]) > time.Minute {
			logged[key] = now
			v.log.Warn("frame not decodable; skipped", "seq", hdr.Seq, "err", err)
		}
		return
	}
	lat := time.Since(time.Unix(0, hdr.Captured))
	v.stats.Shown(lat, m.Cols(), m.Rows(), hdr.Flags&wire.FlagNoSignal != 0)
	if v.cfg.Sink != nil {
		v.cfg.Sink(Frame{Header: hdr, Decoded: true, Mat: m, Latency: lat})
	} else {
		m.Close()
	}
}

// badFrame is a frame that cannot be decoded; kind groups its errors for logging.
type badFrame struct{ kind, msg string }

func (e *badFrame) Error() string { return e.msg }

func bad(kind, format string, args ...any) error {
	return &badFrame{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// decode turns a payload into a BGR Mat that the caller owns.
func decode(p pending) (gocv.Mat, error) {
	switch p.hdr.Codec {
	case wire.CodecJPEG:
		// The picture's own size is checked against the header's (which the protocol bounds) before decoding:
		// a JPEG of a few hundred bytes can claim 30000 x 30000 pixels, gigabytes once decoded.
		info, _, err := jpeg.Inspect(p.buf)
		if err != nil {
			return gocv.Mat{}, bad("incomplete", "not a complete JPEG: %v", err)
		}
		if info.Width != int(p.hdr.Width) || info.Height != int(p.hdr.Height) {
			return gocv.Mat{}, bad("size", "JPEG claims %dx%d, frame header says %dx%d", info.Width, info.Height, p.hdr.Width, p.hdr.Height)
		}
		m, err := gocv.IMDecode(p.buf, gocv.IMReadColor)
		if err != nil || m.Empty() {
			m.Close()
			return gocv.Mat{}, bad("decode", "JPEG does not decode")
		}
		if cols, rows := m.Cols(), m.Rows(); cols != int(p.hdr.Width) || rows != int(p.hdr.Height) {
			m.Close() // after reading its size: a closed Mat must not be touched
			return gocv.Mat{}, bad("size", "JPEG decodes to %dx%d, frame header says %dx%d", cols, rows, p.hdr.Width, p.hdr.Height)
		}
		return m, nil
	case wire.CodecBGR:
		// The Mat uses p.buf as its memory (no copy); p.buf is not reused afterwards.
		return gocv.NewMatFromBytes(int(p.hdr.Height), int(p.hdr.Width), gocv.MatTypeCV8UC3, p.buf)
	}
	return gocv.Mat{}, bad("codec", "codec %v cannot be decoded", p.hdr.Codec)
}
