// Package display shows the received camera stream in a highgui (Qt) window with a status overlay.
//
// The window must live on the main OS thread: the client's main package locks it in init
// (runtime.LockOSThread) and calls Run from main, while the network side runs in other goroutines and hands
// frames over through a Slot.
package display

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"gocv.io/x/gocv"
)

// Info is what the overlay shows, read from the network side every frame.
type Info struct {
	Live      bool   // connected and receiving
	State     string // e.g. "live", "connecting to host:8485…", "reconnecting to host:8485… (connection refused)", "NO SIGNAL at server"
	FPS       float64
	LatencyMs float64
	Dropped   uint64
	Width     int
	Height    int
}

// Options for Run.
type Options struct {
	Title       string      // window title; names the server address, e.g. "camstream — host:8485"
	SnapshotDir string      // where `s` saves PNGs ("" = working directory)
	Info        func() Info // may be nil: frames are then taken as live, and the overlay shows the displayed rate
	Log         *slog.Logger
}

// ErrQuit is returned by Run when the user closes the window or presses q or Esc.
var ErrQuit = errors.New("viewer closed by the user")

const (
	waitMs        = 10                     // WaitKey delay per iteration: GUI events are handled only inside it
	redrawEvery   = 200 * time.Millisecond // redraw without a new frame (overlay numbers, disconnected state)
	dimFactor     = 0.35                   // brightness of the last frame while not live
	noticeFor     = 3 * time.Second        // how long a snapshot notice stays on screen
	defaultWidth  = 640                    // size of the card shown before the first frame
	defaultHeight = 360
	defaultTitle  = "camstream"
)

// Key codes from cv::waitKeyEx (Qt gives letters lower case whatever the shift state).
const (
	keyEsc = 27
)

// Run shows frames from slot in a highgui window on the calling goroutine (which must be the locked main OS
// thread) until ctx is done (returns nil), the user closes the window or presses q or Esc (returns ErrQuit), or
// the window fails (returns the error). It closes the window and every Mat it took before returning; the slot
// stays the caller's.
//
// Keys: q, Q or Esc quit; o toggles the overlay; s saves the current frame as a PNG into Options.SnapshotDir.
func Run(ctx context.Context, slot *Slot, opt Options) error {
	log := opt.Log
	if log == nil {
		log = slog.Default()
	}
	if ctx.Err() != nil {
		return nil
	}
	if slot == nil {
		slot = NewSlot() // nothing to show but the state
	}
	// The probe's X connection is held until Qt has its own, so that the X server does not reset (as it does
	// when its last client leaves) while Qt connects: Qt aborts the process when it cannot connect.
	hold, err := reachDisplay(os.Getenv)
	if err != nil {
		return err
	}
	if err := prepareQt(os.Getenv, os.Setenv); err != nil {
		if hold != nil {
			hold.Close()
		}
		return err
	}
	title := opt.Title
	if title == "" {
		title = defaultTitle
	}
	w, err := openWindow(title, cvWindowNormal|cvWindowKeepRatio|cvWindowGUINormal)
	if hold != nil {
		hold.Close()
	}
	if err != nil {
		return fmt.Errorf("display: open window %q: %w", title, err)
	}
	v := &viewer{
		win:     w,
		slot:    slot,
		opt:     opt,
		log:     log,
		overlay: true,
		canvas:  gocv.NewMat(),
		rate:    newRateMeter(),
	}
	defer v.close()
	// Keep the picture's aspect ratio when the user resizes the window (already so from the creation flags;
	// set again for backends that only honour the property).
	if err := w.setProperty(cvPropAspectRatio, cvWindowKeepRatio); err != nil {
		log.Debug("display: keep-ratio property", "err", err)
	}
	log.Info("viewer window open", "title", title, "keys", "q/Esc quit, o overlay, s snapshot")
	return v.loop(ctx)
}

// viewer is the state of one Run.
type viewer struct {
	win     *window
	slot    *Slot
	opt     Options
	log     *slog.Logger
	overlay bool

	last     gocv.Mat // newest frame taken from the slot, as received; owned here
	hasLast  bool
	lastAt   time.Time // when it arrived
	canvas   gocv.Mat  // what is shown: a copy of last (dimmed while not live) with the overlay drawn on it
	shown    image.Point
	drawnAt  time.Time
	dirty    bool
	rate     *rateMeter
	notice   string
	noticeAt time.Time
}

func (v *viewer) close() {
	if err := v.win.close(); err != nil {
		v.log.Warn("display: close window", "err", err)
	}
	if v.hasLast {
		v.last.Close()
		v.hasLast = false
	}
	v.canvas.Close()
}

func (v *viewer) loop(ctx context.Context) error {
	for {
		if ctx.Err() != nil {
			return nil
		}
		if m, ok := v.slot.Take(); ok {
			v.accept(m)
		}
		if v.dirty || time.Since(v.drawnAt) >= redrawEvery {
			if err := v.draw(v.info()); err != nil {
				return fmt.Errorf("display: show frame in window %q: %w", v.win.name, err)
			}
		}
		key, err := waitKey(waitMs)
		if err != nil {
			return fmt.Errorf("display: window %q: %w", v.win.name, err)
		}
		// A window closed by the user reads as not visible (-1 from backends that have already destroyed it).
		vis, err := v.win.property(cvPropVisible)
		if err != nil {
			return fmt.Errorf("display: window %q: %w", v.win.name, err)
		}
		if vis < 1 {
			v.log.Info("viewer window closed by the user")
			return ErrQuit
		}
		if key < 0 {
			continue
		}
		switch key & 0xffff { // GTK adds modifier bits above; special keys are 0xffxx, not letters
		case 'q', 'Q', keyEsc:
			v.log.Info("viewer quit by key")
			return ErrQuit
		case 'o', 'O':
			v.overlay = !v.overlay
			v.dirty = true
		case 's', 'S':
			v.snapshot()
			v.dirty = true
		}
	}
}

// accept makes m the last frame, closing the previous one.
func (v *viewer) accept(m gocv.Mat) {
	if m.Empty() {
		m.Close()
		return
	}
	if v.hasLast {
		v.last.Close()
	}
	v.last, v.hasLast, v.lastAt = m, true, time.Now()
	v.rate.tick(v.lastAt)
	v.dirty = true
}

func (v *viewer) info() Info {
	var in Info
	if v.opt.Info != nil {
		in = v.opt.Info()
	} else {
		in = Info{Live: v.hasLast, State: "waiting for frames", FPS: v.rate.rate(time.Now())}
		if v.hasLast {
			in.State = "live"
		}
	}
	if in.Width == 0 && in.Height == 0 && v.hasLast {
		in.Width, in.Height = v.last.Cols(), v.last.Rows()
	}
	return in
}

// draw renders the canvas for info and shows it, resizing the window when the picture's size changed.
func (v *viewer) draw(info Info) error {
	if v.hasLast {
		toBGR(v.last, &v.canvas)
		if !info.Live {
			v.canvas.MultiplyFloat(dimFactor)
		}
	} else {
		v.canvas.Close()
		v.canvas = gocv.NewMatWithSizeFromScalar(gocv.NewScalar(32, 28, 24, 0), defaultHeight, defaultWidth, gocv.MatTypeCV8UC3)
	}
	if v.overlay {
		drawStats(&v.canvas, info)
	}
	if !info.Live {
		drawState(&v.canvas, info.State, v.lastFrameNote())
	}
	if v.notice != "" {
		if time.Since(v.noticeAt) < noticeFor {
			drawNotice(&v.canvas, v.notice)
		} else {
			v.notice = ""
		}
	}
	size := image.Pt(v.canvas.Cols(), v.canvas.Rows())
	if size != v.shown {
		if err := v.win.resize(size.X, size.Y); err != nil {
			v.log.Warn("display: resize window", "err", err)
		}
		v.shown = size
	}
	v.dirty = false
	v.drawnAt = time.Now()
	return v.win.show(v.canvas)
}

func (v *viewer) lastFrameNote() string {
	if !v.hasLast {
		return ""
	}
	age := time.Since(v.lastAt).Truncate(time.Second)
	return fmt.Sprintf("last frame %s ago, at %s", age, v.lastAt.Format("15:04:05"))
}

// snapshot saves the last frame, as received, as a PNG and reports the outcome in the log and on screen.
func (v *viewer) snapshot() {
	if !v.hasLast {
		v.log.Warn("snapshot: no frame received yet")
		v.setNotice("snapshot: no frame yet")
		return
	}
	path, err := saveSnapshot(v.last, v.opt.SnapshotDir, time.Now())
	if err != nil {
		v.log.Error("snapshot failed", "err", err)
		v.setNotice("snapshot FAILED: " + shortCause(err, v.opt.SnapshotDir))
		return
	}
	v.log.Info("snapshot saved", "path", path, "width", v.last.Cols(), "height", v.last.Rows())
	v.setNotice("saved " + filepath.Base(path))
}

// shortCause says in a few words why a snapshot failed, for the screen (the log has the whole error).
func shortCause(err error, dir string) string {
	if dir == "" {
		dir = "."
	}
	if errors.Is(err, fs.ErrNotExist) {
		return "no directory " + dir
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error() + " (" + dir + ")"
	}
	return err.Error()
}

func (v *viewer) setNotice(s string) {
	v.notice, v.noticeAt = s, time.Now()
}

// rateMeter measures the displayed frame rate over the last second or so.
type rateMeter struct {
	times []time.Time
}

func newRateMeter() *rateMeter { return &rateMeter{} }

func (r *rateMeter) tick(t time.Time) {
	r.times = append(r.times, t)
	r.trim(t)
}

func (r *rateMeter) trim(now time.Time) {
	i := 0
	for i < len(r.times) && now.Sub(r.times[i]) > 2*time.Second {
		i++
	}
	r.times = append(r.times[:0], r.times[i:]...)
}

func (r *rateMeter) rate(now time.Time) float64 {
	r.trim(now)
	if len(r.times) < 2 {
		return 0
	}
	span := now.Sub(r.times[0]).Seconds()
	if span <= 0 {
		return 0
	}
	return float64(len(r.times)-1) / span
}
