package viewer

import (
	"slices"
	"sync"
	"time"
)

// Report is the viewer's figures over one stats interval.
type Report struct {
	Frames       uint64  // frames received since start, across reconnects
	FPS          float64 // frames shown per second over the interval
	LatencyP50ms float64 // capture timestamp to decoded frame, median over the interval
	LatencyP99ms float64
	DecodeP50ms  float64 // time to decode a frame, median over the interval (0 when not decoding)
	Dropped      uint64  // frames the server skipped for this viewer (sequence gaps), since start
	Skipped      uint64  // frames received but superseded before this viewer could decode them, since start
	Width        int
	Height       int
	NoSignal     bool // the last frame was the server's NO SIGNAL card
}

// maxSamples bounds the latency samples kept per interval (about 30 minutes at 30 fps before sampling thins).
const maxSamples = 1 << 16

// Stats collects a viewer's figures. Safe for concurrent use.
type Stats struct {
	mu        sync.Mutex
	frames    uint64
	dropped   uint64
	skipped   uint64
	lastSeq   uint64
	haveSeq   bool
	shown     int
	lat       []float64 // milliseconds, this interval
	dec       []float64 // decode times, milliseconds, this interval
	w, h      int
	noSignal  bool
	lastLat   float64
	since     time.Time
	displayAt time.Time // display-rate window (Current)
	displayN  int
	displayFP float64
}

// NewStats returns empty stats starting now.
func NewStats() *Stats {
	now := time.Now()
	return &Stats{since: now, displayAt: now}
}

// Connected starts a new connection: the first frame after it opens no sequence gap.
func (s *Stats) Connected() {
	s.mu.Lock()
	s.haveSeq = false
	s.mu.Unlock()
}

// Received records a frame as it arrives; a gap in sequence numbers counts the frames the server skipped.
func (s *Stats) Received(seq uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.frames++
	if s.haveSeq && seq > s.lastSeq+1 {
		s.dropped += seq - s.lastSeq - 1
	}
	if !s.haveSeq || seq > s.lastSeq {
		s.lastSeq, s.haveSeq = seq, true
	}
}

// Skipped records a received frame that a newer one replaced before it was decoded.
func (s *Stats) Skipped() {
	s.mu.Lock()
	s.skipped++
	s.mu.Unlock()
}

// Shown records a frame decoded (or, without decoding, received) with its capture-to-here latency.
func (s *Stats) Shown(latency time.Duration, w, h int, noSignal bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.shown++
	s.displayN++
	s.lastLat = float64(latency) / float64(time.Millisecond)
	if len(s.lat) < maxSamples {
		s.lat = append(s.lat, s.lastLat)
	}
	s.w, s.h, s.noSignal = w, h, noSignal
}

// Decoded records how long a frame took to decode.
func (s *Stats) Decoded(d time.Duration) {
	s.mu.Lock()
	if len(s.dec) < maxSamples {
		s.dec = append(s.dec, float64(d)/float64(time.Millisecond))
	}
	s.mu.Unlock()
}

// Report returns the figures since the previous Report and starts a new interval.
func (s *Stats) Report() Report {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	r := Report{Frames: s.frames, Dropped: s.dropped, Skipped: s.skipped, Width: s.w, Height: s.h, NoSignal: s.noSignal}
	if el := now.Sub(s.since).Seconds(); el > 0 {
		r.FPS = float64(s.shown) / el
	}
	if len(s.lat) > 0 {
		slices.Sort(s.lat)
		r.LatencyP50ms = percentile(s.lat, 0.50)
		r.LatencyP99ms = percentile(s.lat, 0.99)
	}
	if len(s.dec) > 0 {
		slices.Sort(s.dec)
		r.DecodeP50ms = percentile(s.dec, 0.50)
	}
	s.shown, s.lat, s.dec, s.since = 0, s.lat[:0], s.dec[:0], now
	return r
}

// Current returns live figures for an on-screen overlay without disturbing the reporting interval: the frame
// rate over the last second or so, and the latest latency sample.
func (s *Stats) Current() (fps, latencyMs float64, dropped uint64, w, h int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if el := now.Sub(s.displayAt); el >= time.Second {
		s.displayFP = float64(s.displayN) / el.Seconds()
		s.displayN, s.displayAt = 0, now
	}
	return s.displayFP, s.lastLat, s.dropped, s.w, s.h
}

// percentile of sorted values, nearest rank.
func percentile(sorted []float64, p float64) float64 {
	i := int(p*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
