// Package record writes received frames to a video file (Motion JPEG in AVI, through OpenCV's VideoWriter).
package record

import (
	"errors"
	"fmt"
	"image"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"gocv.io/x/gocv"
)

// DefaultFPS is the frame rate written into the file when New is given none.
const DefaultFPS = 30

// ErrClosed is returned by Write after Close.
var ErrClosed = errors.New("recorder closed")

// Recorder writes received frames to a video file (MJPG in AVI via gocv.VideoWriter), opened lazily on the first
// frame with that frame's size; a frame of another size is resized to the recording size. Close finalizes the
// file so it plays. Safe for concurrent use.
type Recorder struct {
	path string
	fps  float64
	log  *slog.Logger

	mu      sync.Mutex
	vw      *gocv.VideoWriter
	size    image.Point
	frames  int
	err     error // a failed open: every later Write returns it
	closed  bool
	scratch gocv.Mat // conversions and resizes; allocated with the writer
}

// New returns a recorder for path; nothing is opened before the first Write. fps is the rate stored in the
// file (DefaultFPS when not positive).
func New(path string, fps float64, log *slog.Logger) *Recorder {
	if log == nil {
		log = slog.Default()
	}
	if !(fps > 0) || math.IsInf(fps, 0) {
		log.Warn("record: no usable frame rate given, using the default", "path", path, "fps", fps, "default", DefaultFPS)
		fps = DefaultFPS
	}
	return &Recorder{path: path, fps: fps, log: log}
}

// Write appends m to the recording, opening the file on the first frame. It does not take ownership of m.
// A failure to open the file is returned by this and every later Write.
func (r *Recorder) Write(m gocv.Mat) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return fmt.Errorf("record %s: %w", r.path, ErrClosed)
	}
	if r.err != nil {
		return r.err
	}
	if m.Empty() {
		return fmt.Errorf("record %s: empty frame", r.path)
	}
	if r.vw == nil {
		if err := r.open(m.Cols(), m.Rows()); err != nil {
			r.err = err
			return err
		}
	}
	if err := r.checkSpace(); err != nil {
		// OpenCV's writer fails silently on a full disk: stop here, keep what was written playable.
		r.vw.Close()
		r.vw = nil
		r.scratch.Close()
		r.err = err
		return err
	}
	frame, err := r.conform(m)
	if err != nil {
		return err
	}
	if err := r.vw.Write(frame); err != nil {
		return fmt.Errorf("record %s: write frame: %w", r.path, err)
	}
	r.frames++
	return nil
}

// conform returns m, or m converted into r.scratch, as 8-bit BGR of the recording's size (a VideoWriter
// silently drops frames of another size or type).
func (r *Recorder) conform(m gocv.Mat) (gocv.Mat, error) {
	src := m
	switch m.Channels() {
	case 3:
	case 1:
		gocv.CvtColor(m, &r.scratch, gocv.ColorGrayToBGR)
		src = r.scratch
	case 4:
		gocv.CvtColor(m, &r.scratch, gocv.ColorBGRAToBGR)
		src = r.scratch
	default:
		return gocv.Mat{}, fmt.Errorf("record %s: cannot record a frame with %d channels", r.path, m.Channels())
	}
	if src.Type() != gocv.MatTypeCV8UC3 {
		return gocv.Mat{}, fmt.Errorf("record %s: cannot record a frame of type %s", r.path, src.Type())
	}
	if image.Pt(src.Cols(), src.Rows()) != r.size {
		gocv.Resize(src, &r.scratch, r.size, 0, 0, gocv.InterpolationLinear)
		src = r.scratch
	}
	return src, nil
}

// open creates the file and the writer. OpenCV reports no cause and, with some backends, no failure at all, so
// the file is first created here (a missing or read-only directory gives a clear error), and the writer's state
// and the file's existence are checked afterwards.
func (r *Recorder) open(width, height int) error {
	f, err := os.OpenFile(r.path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is named below
		}
		return fmt.Errorf("record: cannot create %s: %w", r.path, err)
	}
	f.Close()
	r.size = image.Pt(width, height)
	if err := r.checkSpace(); err != nil {
		os.Remove(r.path)
		return err
	}
	vw, err := gocv.VideoWriterFile(r.path, "MJPG", r.fps, width, height, true)
	if err != nil {
		os.Remove(r.path)
		return fmt.Errorf("record %s: open video writer: %w", r.path, err)
	}
	if !vw.IsOpened() {
		vw.Close()
		os.Remove(r.path)
		return fmt.Errorf("record %s: OpenCV could not open an MJPG/AVI writer (%dx%d at %g fps); check the name ends in .avi and OpenCV has a video backend", r.path, width, height, r.fps)
	}
	if _, err := os.Stat(r.path); err != nil {
		vw.Close()
		return fmt.Errorf("record %s: the video writer reports open but the file is not there: %w", r.path, err)
	}
	r.vw, r.size, r.scratch = vw, image.Pt(width, height), gocv.NewMat()
	r.log.Info("recording", "path", r.path, "width", width, "height", height, "fps", r.fps, "codec", "MJPG")
	return nil
}

// reserve is free space kept beyond the next frames, for the AVI index written at Close.
const reserve = 64 << 10

// checkSpace fails with ENOSPC when the file system holding the recording has no room for about two more
// frames (estimated from what the file grew per frame so far, or a quarter byte per pixel before that).
func (r *Recorder) checkSpace() error {
	var st syscall.Statfs_t
	if err := syscall.Statfs(filepath.Dir(r.path), &st); err != nil {
		return nil // cannot tell: let the writer try
	}
	free := int64(st.Bavail) * int64(st.Bsize)
	perFrame := int64(r.size.X * r.size.Y / 4)
	if fi, err := os.Stat(r.path); err == nil && r.frames > 10 {
		perFrame = max(perFrame/4, fi.Size()/int64(r.frames))
	}
	if need := 2*perFrame + reserve; free < need {
		return fmt.Errorf("record %s: disk full (%d bytes free, a frame needs about %d): %w", r.path, free, perFrame, syscall.ENOSPC)
	}
	return nil
}

// Frames returns how many frames were written.
func (r *Recorder) Frames() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.frames
}

// Close finalizes the file (writes the AVI index) and releases the writer. It is idempotent: later calls
// return nil.
func (r *Recorder) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	if r.vw == nil {
		return nil
	}
	r.vw.Close() // releases cv::VideoWriter, which finalizes the file
	r.vw = nil
	r.scratch.Close()
	st, err := os.Stat(r.path)
	if err != nil {
		return fmt.Errorf("record %s: finalize: %w", r.path, err)
	}
	if st.Size() == 0 && r.frames > 0 {
		return fmt.Errorf("record %s: finalize: file is empty after %d frames (disk full?)", r.path, r.frames)
	}
	r.log.Info("recording closed", "path", r.path, "frames", r.frames, "bytes", st.Size())
	return nil
}
