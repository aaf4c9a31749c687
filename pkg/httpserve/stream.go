package httpserve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/camstream/camstream/pkg/encode"
	"github.com/camstream/camstream/pkg/fanout"
	"github.com/camstream/camstream/pkg/metrics"
)

// boundary separates the parts of /stream.mjpg. Each part is
//
//	Content-Type: image/jpeg CRLF Content-Length: n CRLF X-Timestamp: unix.micros CRLF X-Frame-Seq: seq CRLF CRLF
//	<n bytes of JPEG> CRLF --boundary CRLF
//
// after a first "--boundary CRLF": the delimiter follows each picture at once (as mjpg-streamer and µStreamer
// do), so a reader knows the part is complete without waiting for the next frame.
const boundary = "camstream-frame"

const (
	partOpen    = "--" + boundary + "\r\n"
	partTrailer = "\r\n--" + boundary + "\r\n"
	maxFPSParam = 1000
)

var trailer = []byte(partTrailer)

// serveStream sends the live MJPEG stream: the newest frame whenever there is one, at most ?fps=N a second.
func (s *Server) serveStream(w http.ResponseWriter, r *http.Request) {
	interval, err := fpsInterval(r.URL.Query().Get("fps"))
	if err != nil {
		textError(w, http.StatusBadRequest, "400 bad request: "+err.Error())
		return
	}
	h := w.Header()
	h.Set("Content-Type", "multipart/x-mixed-replace; boundary="+boundary)
	noStore(h)
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return
	}
	if !s.acquireViewer() {
		s.refuse(w, r, "max_http_viewers", fmt.Sprintf("503 service unavailable: this server has its maximum of %d HTTP stream viewers; try again later", s.cfg.MaxViewers))
		return
	}
	defer s.viewers.Add(-1)
	sub, err := s.cfg.Hub.Subscribe(s.cfg.JPEG)
	if err != nil {
		msg := "503 service unavailable: the server is shutting down"
		if errors.Is(err, fanout.ErrFull) {
			msg = "503 service unavailable: this server has its maximum number of viewers; try again later"
		}
		s.refuse(w, r, "max_clients", msg)
		return
	}
	defer sub.Close()

	gauge := s.cfg.Metrics.Viewers.WithLabelValues(metrics.TransportHTTP)
	gauge.Inc()
	defer gauge.Dec()
	log := s.log.With("remote", r.RemoteAddr, "path", r.URL.Path)
	if interval > 0 {
		log = log.With("fps_limit", r.URL.Query().Get("fps"))
	}
	log.Info("http viewer connected")
	start := time.Now()

	mw := &mjpegWriter{
		w: w, rc: http.NewResponseController(w), timeout: s.cfg.WriteTimeout,
		framesSent: s.cfg.Metrics.FramesSent.WithLabelValues(metrics.TransportHTTP),
		bytesSent:  s.cfg.Metrics.BytesSent.WithLabelValues(metrics.TransportHTTP),
		hdr:        make([]byte, 0, 192),
	}
	// The headers go out now, so a player knows it has a stream before the first frame.
	w.WriteHeader(http.StatusOK)
	err = mw.rc.Flush()

	var (
		ctx           = r.Context()
		dropped       uint64
		framesDropped = s.cfg.Metrics.FramesDropped.WithLabelValues(metrics.TransportHTTP)
		next          time.Time // with ?fps: the earliest time for the next frame
	)
	// Start with the newest frame if it is in our format: a picture at once, however slow the source.
	if fr, ok := s.cfg.Hub.Latest(); ok && err == nil {
		if enc, ok := fr.Get(s.cfg.JPEG); ok {
			err = mw.writePart(fr, enc.Payload)
			next = time.Now().Add(interval)
		}
	}
	for err == nil {
		var fr *encode.Frame
		if fr, err = sub.Next(ctx); err != nil {
			break
		}
		if d := sub.Dropped(); d != dropped {
			framesDropped.Add(float64(d - dropped))
			dropped = d
		}
		if fr.Seq <= mw.lastSeq && mw.sent > 0 {
			continue // already sent as the latest frame
		}
		enc, ok := fr.Get(s.cfg.JPEG)
		if !ok {
			continue // encoded before this viewer subscribed
		}
		if interval > 0 {
			// One frame per interval on average: a frame may come up to a quarter interval early (the source's
			// jitter must not halve a rate equal to the source's), and after a pause there is no burst.
			now := time.Now()
			if now.Before(next.Add(-interval / 4)) {
				continue
			}
			if next.Add(interval).Before(now) {
				next = now
			}
			next = next.Add(interval)
		}
		err = mw.writePart(fr, enc.Payload)
	}

	if d := sub.Dropped(); d != dropped { // skipped while the last write was blocked
		framesDropped.Add(float64(d - dropped))
		dropped = d
	}
	why := "viewer left"
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		why = "viewer too slow"
		s.cfg.Metrics.Refused.WithLabelValues("slow").Inc()
		if s.limits.Allow("slow:" + remoteIP(r)) {
			log.Warn("http viewer stopped reading; dropped", "write_timeout", s.cfg.WriteTimeout)
		}
	case errors.Is(err, fanout.ErrClosed), errors.Is(context.Cause(ctx), errStopping):
		why = "server stopping"
	case err != nil && ctx.Err() == nil:
		why = "write failed: " + err.Error() // the viewer closed the connection, mostly
	}
	log.Info("http viewer disconnected", "reason", why, "frames_sent", mw.sent, "frames_dropped", dropped,
		"duration", time.Since(start).Round(time.Millisecond))
}

// mjpegWriter writes multipart parts to one viewer from the shared JPEG bytes, which it never copies or changes.
type mjpegWriter struct {
	w       io.Writer
	rc      *http.ResponseController
	timeout time.Duration
	hdr     []byte // reused for each part's headers
	sent    uint64
	lastSeq uint64

	framesSent, bytesSent interface{ Add(float64) }
}

func (m *mjpegWriter) writePart(fr *encode.Frame, jpeg []byte) error {
	b := m.hdr[:0]
	if m.sent == 0 {
		b = append(b, partOpen...)
	}
	b = append(b, "Content-Type: image/jpeg\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(jpeg)), 10)
	b = append(b, "\r\nX-Timestamp: "...)
	b = appendTimestamp(b, fr.Captured)
	b = append(b, "\r\nX-Frame-Seq: "...)
	b = strconv.AppendUint(b, fr.Seq, 10)
	b = append(b, "\r\n\r\n"...)
	m.hdr = b

	if err := m.rc.SetWriteDeadline(time.Now().Add(m.timeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	// Three writes into the response's buffer: the JPEG goes from the shared frame to the connection without
	// a copy of ours (net/http's buffered writer passes large writes through).
	n, err := m.w.Write(b)
	if err == nil {
		var k int
		k, err = m.w.Write(jpeg)
		n += k
	}
	if err == nil {
		var k int
		k, err = m.w.Write(trailer)
		n += k
	}
	m.bytesSent.Add(float64(n))
	if err != nil {
		return err
	}
	if err := m.rc.Flush(); err != nil {
		return err
	}
	m.sent++
	m.lastSeq = fr.Seq
	m.framesSent.Add(1)
	return nil
}

// appendTimestamp appends t as Unix seconds with microseconds ("1700000000.123456"), as mjpg-streamer's
// X-Timestamp.
func appendTimestamp(b []byte, t time.Time) []byte {
	if t.IsZero() {
		t = time.Now()
	}
	us := t.UnixMicro()
	b = strconv.AppendInt(b, us/1e6, 10)
	frac := us % 1e6
	b = append(b, '.')
	for d := int64(1e5); d > 0; d /= 10 {
		b = append(b, byte('0'+frac/d%10))
	}
	return b
}

// fpsInterval parses ?fps=N (a positive number; empty = no limit) into the minimum time between frames.
func fpsInterval(v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || !(f > 0) || f > maxFPSParam {
		return 0, fmt.Errorf("fps=%q: want a number of frames per second above 0, at most %d", v, maxFPSParam)
	}
	return time.Duration(float64(time.Second) / f), nil
}

// acquireViewer counts a new stream viewer, or reports false at MaxViewers.
func (s *Server) acquireViewer() bool {
	for {
		n := s.viewers.Load()
		if s.cfg.MaxViewers > 0 && n >= int64(s.cfg.MaxViewers) {
			return false
		}
		if s.viewers.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// refuse answers 503 with msg, counts the refusal under label and logs it.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, label, msg string) {
	s.cfg.Metrics.Refused.WithLabelValues(label).Inc()
	if s.limits.Allow(label + ":" + remoteIP(r)) {
		s.log.Warn("http viewer refused", "reason", label, "remote", r.RemoteAddr, "path", r.URL.Path)
	}
	w.Header().Set("Retry-After", "5")
	textError(w, http.StatusServiceUnavailable, msg)
}

// serveSnapshot answers the newest frame as a JPEG.
func (s *Server) serveSnapshot(w http.ResponseWriter, r *http.Request) {
	fr, jpeg, err := s.snapshot(r.Context())
	if err != nil {
		w.Header().Set("Retry-After", "1")
		textError(w, http.StatusServiceUnavailable, "503 service unavailable: "+err.Error())
		return
	}
	h := w.Header()
	h.Set("Content-Type", "image/jpeg")
	h.Set("Content-Length", strconv.Itoa(len(jpeg)))
	h.Set("Content-Disposition", `inline; filename="camstream-`+strconv.FormatUint(fr.Seq, 10)+`.jpg"`)
	noStore(h)
	h.Set("X-Frame-Seq", strconv.FormatUint(fr.Seq, 10))
	h.Set("X-Timestamp", string(appendTimestamp(nil, fr.Captured)))
	if r.Method == http.MethodHead {
		return
	}
	rc := http.NewResponseController(w)
	rc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
	n, err := w.Write(jpeg)
	s.cfg.Metrics.BytesSent.WithLabelValues(metrics.TransportHTTP).Add(float64(n))
	if err == nil {
		s.cfg.Metrics.FramesSent.WithLabelValues(metrics.TransportHTTP).Inc()
	}
}

// snapshot returns the newest frame and its JPEG: the hub's latest frame when it has the JPEG format, otherwise
// the next frame published (subscribing makes the capture loop encode it), waiting at most snapshotWait.
func (s *Server) snapshot(ctx context.Context) (*encode.Frame, []byte, error) {
	if fr, ok := s.cfg.Hub.Latest(); ok {
		if enc, ok := fr.Get(s.cfg.JPEG); ok {
			return fr, enc.Payload, nil
		}
	}
	sub, err := s.cfg.Hub.Subscribe(s.cfg.JPEG)
	if err != nil {
		if errors.Is(err, fanout.ErrFull) {
			return nil, nil, errors.New("the server has its maximum number of viewers; try again later")
		}
		return nil, nil, errors.New("the server is shutting down")
	}
	defer sub.Close()
	ctx, cancel := context.WithTimeout(ctx, s.cfg.snapshotWait)
	defer cancel()
	for {
		fr, err := sub.Next(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("no frame from the source within %v", s.cfg.snapshotWait)
		}
		if enc, ok := fr.Get(s.cfg.JPEG); ok {
			return fr, enc.Payload, nil
		}
	}
}
