package httpserve

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/camstream/camstream/pkg/encode"
	"github.com/camstream/camstream/pkg/metrics"
)

// Status is the JSON document of /api/status.
type Status struct {
	Version       string            `json:"version"`
	UptimeSeconds float64           `json:"uptime_seconds"`
	Source        SourceJSON        `json:"source"`
	FPS           float64           `json:"fps"` // frames published per second over the last few seconds (NO SIGNAL cards included)
	Width         int               `json:"width"`
	Height        int               `json:"height"`
	FrameSeq      uint64            `json:"frame_seq"` // number of the latest frame published
	NoSignal      bool              `json:"no_signal"` // the latest frame is the NO SIGNAL card
	Passthrough   bool              `json:"passthrough"`
	Viewers       map[string]int    `json:"viewers"`         // by transport ("http", "tcp"), connected now
	Subscribers   int               `json:"hub_subscribers"` // hub subscriptions now: viewers of all transports and snapshots waiting
	FramesSent    map[string]uint64 `json:"frames_sent"`     // by transport, since start
	FramesDropped map[string]uint64 `json:"frames_dropped"`  // by transport, since start: skipped for slow viewers
	DroppedTotal  uint64            `json:"frames_dropped_total"`
	BytesSent     map[string]uint64 `json:"bytes_sent"`
	Auth          bool              `json:"auth"` // a token is required
}

// SourceJSON is the source part of Status.
type SourceJSON struct {
	State       string     `json:"state"`
	Live        bool       `json:"live"`
	Description string     `json:"description"`
	Since       *time.Time `json:"since,omitempty"`
	// LastFrameAgeSeconds is the age of the source's last real frame; null when there has been none.
	LastFrameAgeSeconds *float64 `json:"last_frame_age_seconds"`
	LastError           string   `json:"last_error,omitempty"`
}

// sourceStatus returns the source's status, from Config.Status or else from the hub's latest frame.
func (s *Server) sourceStatus() SourceStatus {
	if s.cfg.Status != nil {
		return s.cfg.Status()
	}
	fr, ok := s.cfg.Hub.Latest()
	switch {
	case !ok:
		return SourceStatus{State: "starting"}
	case fr.NoSignal:
		return SourceStatus{State: "no signal", Since: fr.Captured}
	case time.Since(fr.Captured) > ReadyMaxAge:
		return SourceStatus{State: "no signal", LastFrame: fr.Captured, Passthrough: fr.Passthrough}
	}
	return SourceStatus{State: "live", Live: true, LastFrame: fr.Captured, Passthrough: fr.Passthrough}
}

// Status returns the figures /api/status shows.
func (s *Server) Status() Status {
	now := time.Now()
	src := s.sourceStatus()
	st := Status{
		Version:       s.cfg.Version,
		UptimeSeconds: round(now.Sub(s.started).Seconds(), 1),
		Source: SourceJSON{State: src.State, Live: src.Live, Description: src.Source,
			LastError: src.LastError},
		Passthrough:   src.Passthrough,
		Viewers:       map[string]int{metrics.TransportHTTP: 0, metrics.TransportTCP: 0},
		Subscribers:   s.cfg.Hub.Len(),
		FramesSent:    map[string]uint64{},
		FramesDropped: map[string]uint64{},
		BytesSent:     map[string]uint64{},
		Auth:          s.cfg.Token.Enabled(),
	}
	if !src.Since.IsZero() {
		since := src.Since.UTC()
		st.Source.Since = &since
	}
	if !src.LastFrame.IsZero() {
		age := round(now.Sub(src.LastFrame).Seconds(), 3)
		st.Source.LastFrameAgeSeconds = &age
	}
	if fr, ok := s.cfg.Hub.Latest(); ok {
		s.fps.observe(fr)
		st.Width, st.Height, st.FrameSeq, st.NoSignal = fr.Width, fr.Height, fr.Seq, fr.NoSignal
		if s.cfg.Status == nil {
			st.Passthrough = fr.Passthrough
		}
	}
	st.FPS = round(s.fps.rate(now), 1)

	if mfs, err := s.figures.Gather(); err == nil {
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				transport := ""
				for _, l := range m.GetLabel() {
					if l.GetName() == "transport" {
						transport = l.GetValue()
					}
				}
				switch mf.GetName() {
				case "camstream_viewers":
					st.Viewers[transport] = int(m.GetGauge().GetValue())
				case "camstream_frames_sent_total":
					st.FramesSent[transport] = uint64(m.GetCounter().GetValue())
				case "camstream_frames_dropped_total":
					n := uint64(m.GetCounter().GetValue())
					st.FramesDropped[transport] = n
					st.DroppedTotal += n
				case "camstream_sent_bytes_total":
					st.BytesSent[transport] = uint64(m.GetCounter().GetValue())
				}
			}
		}
	}
	return st
}

func (s *Server) serveStatus(w http.ResponseWriter, r *http.Request) {
	b, err := json.MarshalIndent(s.Status(), "", "  ")
	if err != nil {
		textError(w, http.StatusInternalServerError, "500 internal error: "+err.Error())
		return
	}
	h := w.Header()
	noStore(h)
	h.Set("Content-Type", "application/json")
	w.Write(append(b, '\n'))
}

// serveReady answers 200 only while the source delivers real frames (the last one within ReadyMaxAge); NO
// SIGNAL, no frame yet or a stalled source give 503 and the reason. It needs no token.
func (s *Server) serveReady(w http.ResponseWriter, r *http.Request) {
	st := s.sourceStatus()
	age := time.Since(st.LastFrame)
	var why string
	switch {
	case !st.Live:
		why = "source is " + st.State
		if st.State == "" {
			why = "source is not live"
		}
		if !st.LastFrame.IsZero() {
			why += fmt.Sprintf("; last frame %s ago", age.Round(time.Millisecond))
		}
	case st.LastFrame.IsZero():
		why = "no frame from the source yet"
	case age > ReadyMaxAge:
		why = fmt.Sprintf("last frame from the source %s ago (more than %v)", age.Round(time.Millisecond), ReadyMaxAge)
	}
	h := w.Header()
	noStore(h)
	h.Set("Content-Type", "text/plain; charset=utf-8")
	if why != "" {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "not ready: "+why+"\n")
		return
	}
	io.WriteString(w, "ready\n")
}

// sampleFPS records the hub's latest frame a few times a second, for the frame rate in /api/status.
func (s *Server) sampleFPS(ctx context.Context) {
	t := time.NewTicker(fpsSampleEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if fr, ok := s.cfg.Hub.Latest(); ok {
				s.fps.observe(fr)
			}
		}
	}
}

const (
	fpsSampleEvery = 250 * time.Millisecond
	fpsWindow      = 5 * time.Second
)

// fpsMeter measures the publishing rate from the sequence numbers and capture times of frames seen now and
// then: (seq difference) / (time difference) over the last fpsWindow.
type fpsMeter struct {
	mu      sync.Mutex
	samples [48]fpsSample // ring
	n, head int
}

type fpsSample struct {
	seq uint64
	at  time.Time
}

func (m *fpsMeter) observe(fr *encode.Frame) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.n > 0 {
		last := m.samples[(m.head+len(m.samples)-1)%len(m.samples)]
		if fr.Seq <= last.seq {
			if fr.Seq < last.seq { // the publisher started over
				m.n = 0
			} else {
				return
			}
		}
	}
	m.samples[m.head] = fpsSample{fr.Seq, fr.Captured}
	m.head = (m.head + 1) % len(m.samples)
	m.n = min(m.n+1, len(m.samples))
}

func (m *fpsMeter) rate(now time.Time) float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.n < 2 {
		return 0
	}
	newest := m.samples[(m.head+len(m.samples)-1)%len(m.samples)]
	oldest := newest
	for i := 2; i <= m.n; i++ {
		s := m.samples[(m.head+len(m.samples)-i)%len(m.samples)]
		if newest.at.Sub(s.at) > fpsWindow {
			break
		}
		oldest = s
	}
	span := newest.at.Sub(oldest.at)
	frames := newest.seq - oldest.seq
	if span <= 0 || frames == 0 {
		return 0
	}
	// No frame for twice the usual interval (and at least a second): the rate is not what it was.
	if quiet := now.Sub(newest.at); quiet > time.Second && quiet > 2*span/time.Duration(frames) {
		return 0
	}
	return float64(frames) / span.Seconds()
}

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}
