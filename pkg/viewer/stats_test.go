package viewer

import (
	"testing"
	"time"
)

func TestStats(t *testing.T) {
	tests := []struct {
		name        string
		seqs        [][]uint64 // one slice per connection
		wantFrames  uint64
		wantDropped uint64
	}{
		{"in order", [][]uint64{{1, 2, 3, 4}}, 4, 0},
		{"gaps", [][]uint64{{1, 2, 5, 6, 10}}, 5, 5},
		{"reconnect starts fresh", [][]uint64{{1, 2, 3}, {100, 101}}, 5, 0},
		{"gap after reconnect", [][]uint64{{7}, {50, 52}}, 3, 1},
		{"duplicate or older ignored", [][]uint64{{5, 5, 4, 6}}, 4, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := NewStats()
			for _, conn := range tc.seqs {
				s.Connected()
				for _, q := range conn {
					s.Received(q)
				}
			}
			r := s.Report()
			if r.Frames != tc.wantFrames || r.Dropped != tc.wantDropped {
				t.Fatalf("frames %d dropped %d, want %d %d", r.Frames, r.Dropped, tc.wantFrames, tc.wantDropped)
			}
		})
	}
}

func TestStatsLatencyPercentiles(t *testing.T) {
	s := NewStats()
	for i := 1; i <= 100; i++ {
		s.Shown(time.Duration(i)*time.Millisecond, 640, 480, false)
	}
	r := s.Report()
	if r.LatencyP50ms != 50 || r.LatencyP99ms != 99 || r.Width != 640 || r.Height != 480 || r.FPS <= 0 {
		t.Fatalf("report %+v", r)
	}
	// The next interval starts empty.
	if r := s.Report(); r.LatencyP50ms != 0 || r.FPS != 0 || r.Frames != 0 {
		t.Fatalf("second report %+v", r)
	}
}
