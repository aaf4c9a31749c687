package capture

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/camstream/camstream/pkg/jpeg"
	"gocv.io/x/gocv"
)

// Defaults of Config.
const (
	DefaultRetryInterval    = 2 * time.Second
	DefaultNoSignalInterval = 500 * time.Millisecond
	DefaultStallTimeout     = 3 * time.Second
	// DemandIdle is how often an unpaced file or test pattern is read when
	// nobody asks for frames (see Config.Demand).
	DemandIdle = time.Second
	// DemandAheadCost: frames that cost more than this to read and emit are
	// made one ahead of demand (see Config.Demand).
	DemandAheadCost = time.Millisecond
)

// shutdownGrace is how long Run waits, once its context is done, for an
// open or read in progress to return before it leaves that call (and the
// closing of the source) to a background goroutine: reads from a dead
// network stream can block for the FFmpeg backend's 30 s timeout.
const shutdownGrace = 500 * time.Millisecond

// Config configures a Supervisor.
type Config struct {
	Source string
	// Open are the options for opening Source. Open.WantJPEG is set by the
	// supervisor from Passthrough and Transform; Open.FPS defaults to FPS.
	Open Options
	// FPS paces to at most this many frames/s (0 = as fast as the source
	// gives); applies to every source. With FPS > 0, files and the test
	// pattern are read at their nominal rate (see NominalRater) and frames
	// beyond FPS dropped; with FPS = 0 they are read as fast as they give.
	FPS       float64
	Transform Transform
	// Passthrough allows passing the source's JPEG through
	// (CAPTURE_PASSTHROUGH=auto); effective only when !Transform.Active().
	Passthrough bool
	// RetryInterval is how often a missing or lost source is opened again
	// (default 2s).
	RetryInterval time.Duration
	// NoSignalInterval is how often the NO SIGNAL card is emitted while the
	// source is down (default 500ms).
	NoSignalInterval time.Duration
	// StallTimeout: a source whose open or read has not returned for this
	// long is shown as NO SIGNAL until it does (default 3s). The call itself
	// cannot be interrupted; the backend's own timeout ends it.
	StallTimeout time.Duration
	// Demand, when set, paces the sources that can deliver faster than real
	// time (files, the test pattern) when they are read unpaced (FPS = 0):
	// a frame is read when Demand returns nil (a frame is wanted), else when
	// its channel receives and Demand then returns nil, or after DemandIdle
	// at the latest (which keeps the status fresh when nobody watches).
	// ahead asks whether a frame is wanted ahead of a consumer waiting for
	// it: true when the last frame cost more than DemandAheadCost to read
	// and emit (decoding, encoding), so that the next one is ready when
	// asked for; cheap frames (a passed-through JPEG) are made just in time
	// and so are fresh. Live sources and paced reads ignore Demand.
	// fanout.Hub.Waiting fits.
	Demand func(ahead bool) <-chan struct{}
	// Width, Height: size of the NO SIGNAL card (default Open's size, else 640x480).
	Width, Height int
	// Opener opens sources; nil = Open. Tests inject failing sources.
	Opener func(spec string, opt Options, log *slog.Logger) (Source, error)
	Log    *slog.Logger // nil = slog.Default()
}

// Frame is what the supervisor emits; it and its Mat are only valid during
// the emit call (the supervisor owns and reuses the Mat).
type Frame struct {
	Captured      time.Time // when the source delivered it (the card: when drawn)
	Width, Height int
	// Kind is KindPixels: Mat is BGR (CV_8UC3); or KindJPEG: JPEG holds the
	// source's JPEG (standard Huffman tables inserted if the source left them
	// out) and Mat the raw 1xN bytes it came in, not pixels.
	Kind Kind
	Mat  *gocv.Mat
	// JPEG is a view into the supervisor's memory, valid only during emit:
	// copy it to keep it.
	JPEG     []byte
	NoSignal bool // the NO SIGNAL card, not a frame of the source
}

// State of a Supervisor.
type State int

const (
	StateStarting State = iota // no frame yet, no failure yet
	StateLive                  // frames are coming
	StateNoSignal              // the source is missing, lost or stalled; cards are emitted
)

func (s State) String() string {
	switch s {
	case StateStarting:
		return "starting"
	case StateLive:
		return "live"
	case StateNoSignal:
		return "no signal"
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// Status is a snapshot of a Supervisor.
type Status struct {
	State       State
	Source      string    // Describe(Config.Source)
	Since       time.Time // when State began
	LastFrame   time.Time // when the last frame of the source was emitted
	Passthrough bool      // the last frame emitted was the source's JPEG
	Frames      uint64    // frames of the source emitted (cards not counted)
	LastError   string    // why the source went down last, if it did
}

// Supervisor runs one source for the life of the server: it opens it,
// reads, transforms, paces, and emits frames; when the source is missing or
// fails it emits the NO SIGNAL card and keeps retrying.
type Supervisor struct {
	cfg     Config
	log     *slog.Logger
	desc    string
	running atomic.Bool

	mu     sync.Mutex
	status Status
}

// NewSupervisor returns a supervisor for cfg, with defaults filled in.
func NewSupervisor(cfg Config) *Supervisor {
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = DefaultRetryInterval
	}
	if cfg.NoSignalInterval <= 0 {
		cfg.NoSignalInterval = DefaultNoSignalInterval
	}
	if cfg.StallTimeout <= 0 {
		cfg.StallTimeout = DefaultStallTimeout
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		cfg.Width, cfg.Height = cfg.Open.Width, cfg.Open.Height
		if cfg.Width <= 0 || cfg.Height <= 0 {
			cfg.Width, cfg.Height = defaultWidth, defaultHeight
		}
	}
	if cfg.Opener == nil {
		cfg.Opener = Open
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.FPS < 0 {
		cfg.FPS = 0
	}
	if cfg.Open.FPS <= 0 {
		cfg.Open.FPS = cfg.FPS
	}
	cfg.Open.WantJPEG = cfg.Passthrough && !cfg.Transform.Active()
	s := &Supervisor{cfg: cfg, log: cfg.Log, desc: Describe(cfg.Source)}
	s.status = Status{State: StateStarting, Source: s.desc, Since: time.Now()}
	return s
}

// Status returns a snapshot; safe from any goroutine.
func (s *Supervisor) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

// toLive records a frame of the source and logs the change to live.
func (s *Supervisor) toLive(at time.Time, passthrough bool) {
	s.mu.Lock()
	prev, since := s.status.State, s.status.Since
	if prev != StateLive {
		s.status.State, s.status.Since = StateLive, at
	}
	s.status.Frames++
	s.status.LastFrame = at
	s.status.Passthrough = passthrough
	s.mu.Unlock()
	switch prev {
	case StateStarting:
		s.log.Info("capture: live", "source", s.desc, "passthrough", passthrough)
	case StateNoSignal:
		s.log.Info("capture: live again", "source", s.desc, "passthrough", passthrough,
			"no_signal_for", at.Sub(since).Round(time.Millisecond))
	}
}

// toNoSignal records a failure and logs the change to no signal; further
// failures while down are logged at debug level only.
func (s *Supervisor) toNoSignal(at time.Time, err error) {
	s.mu.Lock()
	prev := s.status.State
	if prev != StateNoSignal {
		s.status.State, s.status.Since = StateNoSignal, at
	}
	s.status.LastError = err.Error()
	s.mu.Unlock()
	if prev != StateNoSignal {
		s.log.Warn("capture: no signal", "source", s.desc, "err", err, "was", prev.String(),
			"retry_every", s.cfg.RetryInterval)
	} else {
		s.log.Debug("capture: source still unavailable", "source", s.desc, "err", err)
	}
}

// ErrAlreadyRunning is returned by Run when the supervisor is already running.
var ErrAlreadyRunning = errors.New("capture: supervisor already running")

// Run opens the source, reads, transforms, paces and calls emit for every
// frame until ctx is done. On open or read failure it logs once per state
// change, emits the NO SIGNAL card every NoSignalInterval, retries every
// RetryInterval, and goes live again when the source returns. It returns
// nil when ctx is done, after closing the source; it never returns because
// the source failed.
//
// emit is called one frame at a time (calls never overlap), from Run's
// goroutine or, for a file's or the test pattern's frames, from the
// goroutine that read them (so a frame is encoded where it was decoded).
// The source is read on a goroutine of its own; a live source's next frame
// is read while the current one is emitted (at most one read ahead), a
// file's or the test pattern's after. A slow emit slows capture (frames of
// live sources are then dropped by the source or its backend, not queued
// here). No emit call starts once Run has begun to return. If an open or read is still blocked in the
// backend shutdownGrace after ctx is done, Run returns anyway and the
// source is closed by a goroutine as soon as that call returns.
func (s *Supervisor) Run(ctx context.Context, emit func(*Frame)) error {
	if !s.running.CompareAndSwap(false, true) {
		return ErrAlreadyRunning
	}
	defer s.running.Store(false)
	if ctx.Err() != nil {
		return nil
	}

	r := &runner{s: s, cfg: &s.cfg, emit: emit, frames: [2]gocv.Mat{gocv.NewMat(), gocv.NewMat()},
		scratch: gocv.NewMat(), conv: gocv.NewMat(), card: gocv.NewMat()}
	defer r.closeMats()
	switch {
	case s.cfg.Open.WantJPEG:
		s.log.Info("capture: starting; the source's own JPEG frames are passed through when it delivers them",
			"source", s.desc, "fps", s.cfg.FPS)
	case s.cfg.Passthrough:
		s.log.Info("capture: starting; JPEG passthrough off because a transform needs pixels",
			"source", s.desc, "fps", s.cfg.FPS, "resize_width", s.cfg.Transform.ResizeWidth, "mirror", s.cfg.Transform.Mirror)
	default:
		s.log.Info("capture: starting; JPEG passthrough disabled, frames are decoded",
			"source", s.desc, "fps", s.cfg.FPS)
	}
	if s.cfg.FPS > 0 {
		r.emitIv = time.Duration(float64(time.Second) / s.cfg.FPS)
	}
	return r.loop(ctx)
}

type opKind int

const (
	opOpen opKind = iota
	opRead
)

type opResult struct {
	src     Source // opOpen
	kind    Kind   // opRead
	buf     int    // opRead: the index of the frame Mat filled
	emitted bool   // opRead: the reader emitted the frame already (see runner.inline)
	err     error
	at      time.Time
}

// reader reads one opened source on a long-lived goroutine: every request
// names a Mat to fill and gets exactly one result on res. Reading on one
// goroutine (not one per frame) keeps its stack grown for the backend's
// calls, and lets the next frame be read while the current one is emitted.
// With inline set, the reader emits each frame it read itself, before it
// sends the result: the frame is then encoded on the thread that decoded it,
// while it is still in the CPU's caches, as the seed's single loop does.
type reader struct {
	req chan int      // index into runner.frames; closed when the source is done with
	res chan opResult // buffered: one request is in flight at most
}

func startReader(src Source, frames *[2]gocv.Mat, inline func(*opResult)) *reader {
	rd := &reader{req: make(chan int), res: make(chan opResult, 1)}
	go func() {
		for buf := range rd.req {
			k, err := src.Read(&frames[buf])
			res := opResult{kind: k, buf: buf, err: err, at: time.Now()}
			if inline != nil && err == nil {
				inline(&res)
			}
			rd.res <- res
		}
	}()
	return rd
}

// runner is the state of one Run. Its fields belong to Run's goroutine,
// except that while a read is in flight the reader goroutine uses src and
// frames[inflight] (handed over and back through the reader's channels) and,
// emitting inline, what emitting uses (under emitMu).
type runner struct {
	s    *Supervisor
	cfg  *Config
	emit func(*Frame)

	src Source
	rd  *reader // reads src; nil when src is
	// frames are filled by the source in turn: the next frame is read into
	// one while the other is emitted (decoding overlaps encoding).
	frames   [2]gocv.Mat
	nextBuf  int // the Mat the next read fills
	inflight int // the Mat the read in flight fills
	// demanded: reads wait for Config.Demand (an unpaced file or test pattern).
	demanded bool
	lastRead time.Time
	lastCost time.Duration // read and emit of the last frame
	// overlap: the next read starts before the current frame is emitted.
	// Only for live sources, whose reads mostly wait for the device: a file
	// or the test pattern read ahead while a frame is encoded would only
	// make frames that a slower viewer then skips, with CPU taken from it
	// (measured: the viewer becomes the bottleneck and latency grows by
	// the frame it waits for; docs/BENCHMARKS.md).
	overlap bool
	// scratch receives transforms, conv colour conversions, card the NO
	// SIGNAL card. All are closed by closeMats (a frame Mat still being
	// read into at shutdown by the background closer instead).
	scratch, conv, card gocv.Mat
	frameGone           [2]bool // handed to the background closer
	out                 Frame
	jpegBuf             []byte // standard tables inserted (reused)

	op      chan opResult // non-nil while an open or read is in flight
	opKind  opKind
	opStart time.Time

	nextOpen, nextRead, nextEmit, nextCard time.Time
	readIv, emitIv                         time.Duration
	stalled                                bool // a read is overdue: shown as no signal

	loggedDHT, loggedBad, loggedDecode bool

	// emitMu serialises emit calls: frames may be emitted by the reader
	// (inline, files and the test pattern) while the loop emits the card.
	// closed (under emitMu) stops a reader that outlives Run from emitting.
	emitMu sync.Mutex
	closed bool
}

func (r *runner) closeMats() {
	for i := range r.frames {
		if !r.frameGone[i] {
			r.frames[i].Close()
		}
	}
	r.scratch.Close()
	r.conv.Close()
	r.card.Close()
}

func (r *runner) loop(ctx context.Context) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := time.Now()
		var demand <-chan struct{} // set while a due read waits for a consumer
		if r.op == nil {
			if r.src == nil {
				if !now.Before(r.nextOpen) {
					r.startOpen(now)
				}
			} else if !now.Before(r.nextRead) {
				if demand = r.demand(now); demand == nil {
					r.startRead(now)
				}
			}
		}
		if r.op != nil && !r.stalled && now.Sub(r.opStart) >= r.cfg.StallTimeout {
			// The call goes on (it cannot be interrupted); meanwhile viewers
			// see the card.
			r.stalled = true
			what := "no frame for"
			if r.opKind == opOpen {
				what = "opening the source takes longer than"
			}
			r.fail(now, fmt.Errorf("%s %v", what, r.cfg.StallTimeout))
		}
		// While starting (the first open in progress) there is no card yet.
		down := r.src == nil || r.stalled
		if down && r.s.Status().State != StateStarting && !now.Before(r.nextCard) {
			r.emitCard(now)
			r.nextCard = advance(r.nextCard, r.cfg.NoSignalInterval, now)
		}

		// Sleep until the next thing to do.
		wake := now.Add(time.Hour)
		if down && !r.nextCard.IsZero() {
			wake = earliest(wake, r.nextCard)
		}
		switch {
		case r.op == nil && r.src == nil:
			wake = earliest(wake, r.nextOpen)
		case r.op == nil && demand != nil:
			wake = earliest(wake, r.lastRead.Add(DemandIdle))
		case r.op == nil:
			wake = earliest(wake, r.nextRead)
		case !r.stalled:
			wake = earliest(wake, r.opStart.Add(r.cfg.StallTimeout))
		}
		timer.Reset(max(0, wake.Sub(now)))

		select {
		case <-ctx.Done():
			r.shutdown()
			return nil
		case res := <-r.op:
			r.op = nil
			if r.opKind == opOpen {
				r.opened(res)
			} else {
				r.read(res)
			}
		case <-demand: // a consumer waits: read on the next turn (Demand is asked again)
		case <-timer.C:
		}
	}
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// advance moves a schedule t on by iv; a schedule that fell more than one
// interval behind now restarts from now instead of bursting to catch up.
func advance(t time.Time, iv time.Duration, now time.Time) time.Time {
	if now.Sub(t) > iv {
		t = now
	}
	return t.Add(iv)
}

func (r *runner) startOpen(now time.Time) {
	ch := make(chan opResult, 1)
	r.op, r.opKind, r.opStart = ch, opOpen, now
	opener, spec, opt, log := r.cfg.Opener, r.cfg.Source, r.cfg.Open, r.s.log
	go func() {
		src, err := opener(spec, opt, log)
		ch <- opResult{src: src, err: err, at: time.Now()}
	}()
}

// demand returns nil when a frame should be read now, else the channel to wait on (Config.Demand).
func (r *runner) demand(now time.Time) <-chan struct{} {
	if !r.demanded || now.Sub(r.lastRead) >= DemandIdle {
		return nil
	}
	return r.cfg.Demand(r.lastCost > DemandAheadCost)
}

func (r *runner) startRead(now time.Time) {
	r.op, r.opKind, r.opStart, r.lastRead = r.rd.res, opRead, now, now
	if r.readIv > 0 {
		r.nextRead = advance(r.nextRead, r.readIv, now)
	}
	r.inflight = r.nextBuf
	r.nextBuf = 1 - r.nextBuf
	r.rd.req <- r.inflight
}

func (r *runner) opened(res opResult) {
	if res.err == nil && res.src == nil {
		res.err = errors.New("opener returned no source and no error")
	}
	if res.err != nil {
		if res.src != nil {
			res.src.Close()
		}
		r.nextOpen = res.at.Add(r.cfg.RetryInterval)
		r.fail(res.at, res.err)
		return
	}
	r.src = res.src
	_, rater := r.src.(NominalRater)
	var inline func(*opResult)
	if rater {
		inline = r.inline
	}
	r.rd = startReader(r.src, &r.frames, inline)
	r.stalled = false
	r.readIv = 0
	r.overlap = !rater
	r.demanded = rater && r.cfg.FPS == 0 && r.cfg.Demand != nil
	// Paced (FPS > 0), files and the test pattern play at their own rate, capped by FPS. Unpaced (FPS = 0) they
	// are read as fast as they give, as CAPTURE_FPS=0 promises.
	if nr, ok := r.src.(NominalRater); ok && r.cfg.FPS > 0 {
		if fps := nr.NominalFPS(); fps > 0 {
			r.readIv = time.Duration(float64(time.Second) / fps)
		}
	}
	r.nextRead = res.at
	r.loggedDHT, r.loggedBad, r.loggedDecode = false, false, false
}

// fail marks the source down and starts the cards at once.
func (r *runner) fail(at time.Time, err error) {
	if r.s.Status().State != StateNoSignal {
		r.nextCard = at
	}
	r.s.toNoSignal(at, err)
}

func (r *runner) read(res opResult) {
	if res.err != nil {
		r.closeSource()
		r.stalled = false
		r.nextOpen = res.at.Add(r.cfg.RetryInterval)
		r.fail(res.at, res.err)
		return
	}
	r.stalled = false
	if res.emitted {
		return
	}
	readStart := r.lastRead
	// A live source: read its next frame into the other Mat while this one
	// is emitted, so the frame is taken from the device as soon as it is
	// there and its decoding overlaps this one's encoding.
	if now := time.Now(); r.overlap && !now.Before(r.nextRead) {
		r.startRead(now)
	}
	r.emitRead(res, readStart)
}

// inline emits a file's or the test pattern's frame on the reader's
// goroutine (see reader); the loop then only does the bookkeeping.
func (r *runner) inline(res *opResult) {
	res.emitted = true
	r.emitRead(*res, r.lastRead) // lastRead was written before the read was asked for
}

// emitRead paces and emits a frame the source delivered. A bad frame is
// dropped (logged once per open), not a reason to drop the source.
func (r *runner) emitRead(res opResult, readStart time.Time) {
	r.emitMu.Lock()
	defer r.emitMu.Unlock()
	if r.closed || !r.admit(res.at) {
		return // shut down, or paced out (the source keeps its own rate)
	}
	err := r.emitFrame(res)
	r.lastCost = time.Since(readStart) // what the frame cost to read and emit
	if err != nil && !r.loggedBad {
		r.loggedBad = true
		r.s.log.Warn("capture: dropping a frame the supervisor cannot use (logged once per open)",
			"source", r.s.desc, "err", err)
	}
}

// closeSource ends the reader and closes the source; no read is in flight.
func (r *runner) closeSource() {
	if r.rd != nil {
		close(r.rd.req)
		r.rd = nil
	}
	if r.src != nil {
		if err := r.src.Close(); err != nil {
			r.s.log.Debug("capture: closing source", "source", r.s.desc, "err", err)
		}
		r.src = nil
	}
}

// admit applies the FPS limit to a frame that arrived at now.
func (r *runner) admit(now time.Time) bool {
	if r.emitIv <= 0 {
		return true
	}
	// One interval of slack lets a frame through that arrives early because
	// the one before it was late (jitter, a slow read, a paced source
	// catching up); the schedule still keeps the average at or below FPS:
	// every frame let through moves it on by a whole interval.
	if now.Before(r.nextEmit.Add(-r.emitIv)) {
		return false
	}
	r.nextEmit = advance(r.nextEmit, r.emitIv, now)
	return true
}

// emitFrame turns the frame the source delivered into a Frame and emits it.
func (r *runner) emitFrame(res opResult) error {
	f := &r.out
	*f = Frame{Captured: res.at}
	frame := &r.frames[res.buf]
	pix := frame
	if res.kind == KindJPEG {
		if !isByteRow(frame) {
			return fmt.Errorf("KindJPEG frame is a %dx%d %v Mat, not 1xN bytes", frame.Cols(), frame.Rows(), frame.Type())
		}
		b, err := frame.DataPtrUint8()
		if err != nil {
			return err
		}
		info, n, err := jpeg.Inspect(b)
		if err == nil && r.cfg.Open.WantJPEG {
			f.Kind, f.Mat, f.Width, f.Height = KindJPEG, frame, info.Width, info.Height
			f.JPEG = b[:n]
			if !info.HasHuffman {
				r.jpegBuf, _ = jpeg.AppendWithHuffman(r.jpegBuf[:0], b[:n]) // b[:n] inspected: no error
				f.JPEG = r.jpegBuf
				if !r.loggedDHT {
					r.loggedDHT = true
					r.s.log.Info("capture: source JPEGs have no Huffman tables; inserting the standard ones (logged once per open)",
						"source", r.s.desc)
				}
			}
			r.s.toLive(res.at, true)
			r.emit(f)
			return nil
		}
		// A JPEG the transforms need as pixels (from a source that ignored
		// WantJPEG), or one that fails inspection: decode it.
		if !r.loggedDecode {
			r.loggedDecode = true
			why := "a transform needs pixels"
			if err != nil {
				why = err.Error()
			}
			r.s.log.Info("capture: decoding JPEG frames from the source (logged once per open)", "source", r.s.desc, "why", why)
		}
		if _, err := decodeInto(b, &r.conv); err != nil {
			return err
		}
		pix = &r.conv
	}
	if pix.Empty() {
		return errors.New("empty frame")
	}
	switch pix.Type() {
	case gocv.MatTypeCV8UC3:
	case gocv.MatTypeCV8UC1:
		gocv.CvtColor(*pix, &r.conv, gocv.ColorGrayToBGR) // in place when pix is conv
		pix = &r.conv
	case gocv.MatTypeCV8UC4:
		gocv.CvtColor(*pix, &r.conv, gocv.ColorBGRAToBGR)
		pix = &r.conv
	default:
		return fmt.Errorf("unsupported pixel type %v", pix.Type())
	}
	out := r.cfg.Transform.Apply(pix, &r.scratch)
	f.Kind, f.Mat, f.Width, f.Height = KindPixels, out, out.Cols(), out.Rows()
	r.s.toLive(res.at, false)
	r.emit(f)
	return nil
}

func (r *runner) emitCard(now time.Time) {
	r.emitMu.Lock()
	defer r.emitMu.Unlock()
	RenderNoSignal(&r.card, r.cfg.Width, r.cfg.Height, r.s.desc, now)
	r.out = Frame{Captured: now, Width: r.card.Cols(), Height: r.card.Rows(), Kind: KindPixels, Mat: &r.card, NoSignal: true}
	r.emit(&r.out)
}

// shutdown ends an open or read in flight (waiting at most shutdownGrace)
// and closes the source exactly once.
func (r *runner) shutdown() {
	r.emitMu.Lock()
	r.closed = true // a read returning from now on is not emitted
	r.emitMu.Unlock()
	if r.op != nil {
		grace := time.NewTimer(shutdownGrace)
		defer grace.Stop()
		select {
		case res := <-r.op:
			if r.opKind == opOpen && res.src != nil {
				res.src.Close()
			}
		case <-grace.C:
			// The open or the reader is inside the backend and still uses
			// the source (and, for a read, a frame Mat): hand both over to a
			// goroutine that closes them when the call returns.
			op, kind, src, rd := r.op, r.opKind, r.src, r.rd
			frame := r.frames[r.inflight]
			r.src, r.rd = nil, nil
			if kind == opRead {
				r.frameGone[r.inflight] = true
			}
			r.s.log.Warn("capture: source call still blocked at shutdown; it is closed when the call returns",
				"source", r.s.desc, "blocked_for", time.Since(r.opStart).Round(time.Millisecond))
			go func() {
				res := <-op
				if rd != nil {
					close(rd.req)
				}
				if res.src != nil {
					res.src.Close()
				}
				if src != nil {
					src.Close()
				}
				if kind == opRead {
					frame.Close()
				}
			}()
		}
		r.op = nil
	}
	r.closeSource()
}
