package encode

import (
	"context"
	"log/slog"

	"github.com/camstream/camstream/pkg/capture"
	"github.com/camstream/camstream/pkg/metrics"
)

// Pipeline runs the server's frame path: the supervisor's frames are numbered, encoded once in each format the
// hub's subscribers use, and published.
type Pipeline struct {
	Supervisor *capture.Supervisor
	Encoder    *Encoder
	Hub        *Hub
	Metrics    *metrics.Metrics
	Log        *slog.Logger
	// Tap, when set, sees every frame before it is encoded (e.g. a local preview); it must not keep cf or its
	// Mat beyond the call.
	Tap func(cf *capture.Frame)
}

// Run captures and publishes until ctx is done.
func (p *Pipeline) Run(ctx context.Context) error {
	var (
		seq       uint64
		lastErr   string
		wasLive   = -1.0
		encodeErr = func(err error) {
			if msg := err.Error(); msg != lastErr { // once per distinct error, not once per frame
				p.Log.Error("encode failed; frame skipped", "err", err)
				lastErr = msg
			}
		}
	)
	return p.Supervisor.Run(ctx, func(cf *capture.Frame) {
		live := 1.0
		if cf.NoSignal {
			live = 0
		} else {
			p.Metrics.FramesCaptured.Inc()
		}
		if live != wasLive {
			p.Metrics.SourceUp.Set(live)
			wasLive = live
		}
		if p.Tap != nil {
			p.Tap(cf)
		}
		seq++
		fr, err := p.Encoder.Encode(cf, seq, p.Hub.Keys())
		if err != nil {
			encodeErr(err)
			return
		}
		lastErr = ""
		p.Hub.Publish(fr)
	})
}
