package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestNewRegistersEverything(t *testing.T) {
	m := New("v1.2.3")
	m.FramesSent.WithLabelValues(TransportTCP).Add(3)
	m.Viewers.WithLabelValues(TransportHTTP).Set(2)
	m.EncodeSeconds.WithLabelValues("jpeg").Observe(0.002)
	m.SourceUp.Set(1)
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range families {
		names[f.GetName()] = true
	}
	for _, want := range []string{"camstream_frames_sent_total", "camstream_viewers", "camstream_encode_duration_seconds",
		"camstream_source_up", "camstream_build_info", "go_goroutines", "process_resident_memory_bytes"} {
		if !names[want] {
			t.Errorf("metric %s missing", want)
		}
	}
	if got := testutil.ToFloat64(m.FramesSent.WithLabelValues(TransportTCP)); got != 3 {
		t.Errorf("frames sent = %v", got)
	}
	problems, err := testutil.GatherAndLint(m.Registry)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if !strings.HasPrefix(p.Metric, "go_") && !strings.HasPrefix(p.Metric, "process_") {
			t.Errorf("lint: %s: %s", p.Metric, p.Text)
		}
	}
}
