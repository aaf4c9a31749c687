package encode

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"gocv.io/x/gocv"

	"github.com/camstream/camstream/pkg/capture"
	"github.com/camstream/camstream/pkg/metrics"
	"github.com/camstream/camstream/pkg/wire"
)

// Pipeline runs the server's frame path: the supervisor's frames are numbered, encoded once in each format the
// hub's subscribers use, and published.
type Pipeline struct {
	Supervisor *capture.Supervisor
	Encoder    *Encoder
	Hub        *Hub
	Metrics    *metrics.Metrics
	Log        *slog.Logger
	// CardWidth and CardHeight size the NO SIGNAL card shown instead of a source's frames that are too large to
	// send (default 1280x720).
	CardWidth, CardHeight int
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
	var (
		card     = gocv.NewMat() // the NO SIGNAL card for frames too large to send
		lastCard time.Time
	)
	defer card.Close()
	return p.Supervisor.Run(ctx, func(cf *capture.Frame) {
		if !Fits(cf.Width, cf.Height) {
			// A source beyond the protocol's maximum resolution: say so once, and show viewers a card saying
			// why, twice a second, instead of nothing.
			encodeErr(fmt.Errorf("source frames are %dx%d, larger than the %dx%d a frame may be; showing NO SIGNAL",
				cf.Width, cf.Height, wire.MaxWidth, wire.MaxHeight))
			if cf.Captured.Sub(lastCard) < 500*time.Millisecond {
				return
			}
			lastCard = cf.Captured
			w, h := p.CardWidth, p.CardHeight
			if !Fits(w, h) {
				w, h = 1280, 720
			}
			capture.RenderNoSignal(&card, w, h, fmt.Sprintf("source sends %dx%d, beyond %dx%d", cf.Width, cf.Height, wire.MaxWidth, wire.MaxHeight), cf.Captured)
			cf = &capture.Frame{Captured: cf.Captured, Width: w, Height: h, Kind: capture.KindPixels, Mat: &card, NoSignal: true}
		}
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
		if !fr.NoSignal {
			lastErr = ""
		}
		p.Hub.Publish(fr)
	})
}
