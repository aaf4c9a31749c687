package viewer

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/camstream/camstream/pkg/wire"
)

// pullMargin is how much earlier than the decoder will be free a pulled frame is meant to arrive: enough to
// absorb the round trip's jitter, little enough that the frame is still fresh when it is decoded.
const pullMargin = 500 * time.Microsecond

// puller asks the server for frames one at a time (pull mode, PROTOCOL.md §5.7), so that a viewer that decodes
// slower than the stream is sent only the frames it decodes, each the newest the server has when asked.
//
// One Ready is outstanding at most. It is sent while a frame decodes, timed so that the frame it asks for arrives
// about when the decoder is free: time per frame − round trip − pullMargin after the decoder took the frame (both
// running estimates), so the round trip is hidden without queueing; or at once when the decoder waits. A nil *puller
// (push mode) does nothing.
type puller struct {
	slot *latest
	send func([]byte) error
	fail func(error) // ends the connection when a Ready cannot be sent

	askedAt atomic.Int64 // when the last Ready was sent, Unix ns (the slot counts the Readies outstanding)
	rtt     atomic.Int64 // round trip estimate, ns: Ready sent to its frame received
	timer   *time.Timer  // the timed ask; nil until the first decode

	busy time.Duration // estimate of the decoder's time per frame (decode and sink); its goroutine only
}

func newPuller(slot *latest, send func([]byte) error, fail func(error)) *puller {
	return &puller{slot: slot, send: send, fail: fail}
}

// ask sends a Ready unless one is outstanding or a frame already waits for the decoder. Safe from any goroutine.
func (p *puller) ask() {
	if p == nil || !p.slot.claimAsk() {
		return
	}
	p.askedAt.Store(time.Now().UnixNano())
	if err := p.send(wire.AppendReady(nil)); err != nil {
		p.fail(fmt.Errorf("send ready: %w", err))
	}
}

// answered notes that the frame answering the last Ready arrived at now (the reader's goroutine).
func (p *puller) answered(now time.Time) {
	if p == nil {
		return
	}
	sample := now.UnixNano() - p.askedAt.Load()
	p.rtt.Store(ewma(p.rtt.Load(), sample))
}

// taken is called as the decoder takes a frame: it schedules the next Ready and returns the time.
func (p *puller) taken() time.Time {
	now := time.Now()
	if p == nil {
		return now
	}
	wait := p.busy - time.Duration(p.rtt.Load()) - pullMargin
	switch {
	case p.busy == 0 || wait <= 0:
		p.ask()
	case p.timer == nil:
		p.timer = time.AfterFunc(wait, p.ask)
	default:
		p.timer.Reset(wait)
	}
	return now
}

// done is called when the decoder is done with a frame (decoded and shown) after d: it updates the estimate and
// asks for the next frame if the timed ask has not yet.
func (p *puller) done(d time.Duration) {
	if p == nil {
		return
	}
	p.busy = time.Duration(ewma(int64(p.busy), int64(d)))
	p.ask()
}

// stop cancels a timed ask; call it when the connection ends.
func (p *puller) stop() {
	if p != nil && p.timer != nil {
		p.timer.Stop()
	}
}

// ewma moves an estimate 1/8 of the way to a new sample (the first sample is taken as it is).
func ewma(est, sample int64) int64 {
	if est == 0 {
		return sample
	}
	return est + (sample-est)/8
}
