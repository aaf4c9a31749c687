// Package metrics defines the server's Prometheus metrics in one place, so every part of the server counts into
// the same registry and /metrics shows them with the names and units Prometheus' conventions ask for.
package metrics

import (
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Transport labels.
const (
	TransportTCP  = "tcp"
	TransportHTTP = "http"
)

// Metrics holds the server's collectors. Build it with New; the zero value is not usable.
type Metrics struct {
	Registry *prometheus.Registry

	FramesCaptured prometheus.Counter     // frames read from the source (NO SIGNAL cards excluded)
	FramesEncoded  *prometheus.CounterVec // by codec: encodes done (passthrough frames are not encoded)
	Passthrough    prometheus.Counter     // frames sent as the source's own JPEG
	FramesSent     *prometheus.CounterVec // by transport
	FramesDropped  *prometheus.CounterVec // by transport: skipped for a viewer that was behind
	BytesSent      *prometheus.CounterVec // by transport
	Viewers        *prometheus.GaugeVec   // by transport: connected now
	Refused        *prometheus.CounterVec // by reason: connections refused or dropped (auth, full, timeout, slow, protocol…)
	EncodeSeconds  *prometheus.HistogramVec
	CaptureSeconds prometheus.Histogram
	SourceUp       prometheus.Gauge
}

// New registers every collector, the Go and process collectors and camstream_build_info in a new registry.
func New(version string) *Metrics {
	r := prometheus.NewRegistry()
	f := func(c prometheus.Collector) { r.MustRegister(c) }
	m := &Metrics{
		Registry: r,
		FramesCaptured: prometheus.NewCounter(prometheus.CounterOpts{Name: "camstream_frames_captured_total",
			Help: "Frames read from the source (NO SIGNAL cards not included)."}),
		FramesEncoded: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "camstream_frames_encoded_total",
			Help: "Frames encoded, once per codec and quality in use."}, []string{"codec"}),
		Passthrough: prometheus.NewCounter(prometheus.CounterOpts{Name: "camstream_frames_passthrough_total",
			Help: "Frames served as the source's own JPEG, without decoding or encoding."}),
		FramesSent: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "camstream_frames_sent_total",
			Help: "Frames written to viewers."}, []string{"transport"}),
		FramesDropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "camstream_frames_dropped_total",
			Help: "Frames skipped for a viewer that had not taken (or, pulling, asked for) the previous one yet."}, []string{"transport"}),
		BytesSent: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "camstream_sent_bytes_total",
			Help: "Bytes of frame messages written to viewers."}, []string{"transport"}),
		Viewers: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "camstream_viewers",
			Help: "Viewers connected now."}, []string{"transport"}),
		Refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "camstream_connections_refused_total",
			Help: "Connections refused or dropped by a limit or a failed check, by reason."}, []string{"reason"}),
		EncodeSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "camstream_encode_duration_seconds",
			Help:    "Time to encode one frame, by codec.",
			Buckets: []float64{.0005, .001, .002, .004, .008, .016, .032, .064, .128}}, []string{"codec"}),
		CaptureSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "camstream_capture_duration_seconds",
			Help:    "Time to read one frame from the source.",
			Buckets: []float64{.0005, .001, .002, .004, .008, .016, .032, .064, .128, .256}}),
		SourceUp: prometheus.NewGauge(prometheus.GaugeOpts{Name: "camstream_source_up",
			Help: "1 while the source delivers frames, 0 while the server shows NO SIGNAL."}),
	}
	for _, c := range []prometheus.Collector{m.FramesCaptured, m.FramesEncoded, m.Passthrough, m.FramesSent,
		m.FramesDropped, m.BytesSent, m.Viewers, m.Refused, m.EncodeSeconds, m.CaptureSeconds, m.SourceUp} {
		f(c)
	}
	f(collectors.NewGoCollector())
	f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	bi := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "camstream_build_info",
		Help: "Build information; the value is always 1."}, []string{"version", "goversion"})
	bi.WithLabelValues(version, runtime.Version()).Set(1)
	f(bi)
	return m
}

// Version returns the module version recorded in the binary, or "devel".
func Version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}
