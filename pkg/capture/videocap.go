package capture

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"

	"github.com/camstream/camstream/pkg/jpeg"
	"gocv.io/x/gocv"
)

// maxBadFrames is how many invalid frames in a row (JPEGs that neither pass
// jpeg.Inspect nor decode) Read skips before it reports the source as
// failed: USB cameras deliver the odd corrupt frame, a source that delivers
// only corrupt frames is broken.
const maxBadFrames = 10

// defaultNominalFPS is the rate of files whose container gives none, and of
// the test pattern when Options.FPS is 0.
const defaultNominalFPS = 30

// vcSource reads a device, file or URL through a gocv VideoCapture.
type vcSource struct {
	vc      *gocv.VideoCapture // nil once closed
	desc    string
	log     *slog.Logger
	raw     bool    // VideoCaptureFormat -1 / ConvertRGB off: frames are JPEG bytes
	loop    bool    // a file: rewind at the end
	nominal float64 // a file's frame rate; 0 for live sources

	loggedBad bool // a frame failed jpeg.Inspect (logged once)
}

func (s *vcSource) String() string { return s.desc }

// NominalFPS is the container's frame rate for files and 0 (live) for
// devices and URLs.
func (s *vcSource) NominalFPS() float64 { return s.nominal }

// Close closes the capture. It is safe to call more than once.
func (s *vcSource) Close() error {
	if s.vc != nil {
		s.vc.Close()
		s.vc = nil
	}
	return nil
}

// Read reads the next frame into dst. Files start again from their first
// frame at the end. In passthrough mode a frame is returned as KindJPEG when
// it passes jpeg.Inspect, else it is decoded into dst (KindPixels).
func (s *vcSource) Read(dst *gocv.Mat) (Kind, error) {
	if s.vc == nil {
		return KindPixels, errorf(ErrRead, s.desc, "source is closed")
	}
	var lastErr error
	for bad := 0; bad < maxBadFrames; bad++ {
		if !s.vc.Read(dst) || dst.Empty() {
			if !s.loop {
				return KindPixels, errorf(ErrRead, s.desc, "no frame (stream ended or device lost)")
			}
			s.vc.Set(gocv.VideoCapturePosFrames, 0)
			if !s.vc.Read(dst) || dst.Empty() {
				return KindPixels, errorf(ErrRead, s.desc, "no frame after rewinding to the start")
			}
		}
		if !s.raw || !isByteRow(dst) {
			return KindPixels, nil
		}
		k, err := s.checkJPEG(dst)
		if err == nil {
			return k, nil
		}
		lastErr = err
	}
	return KindPixels, errorf(ErrRead, s.desc, "%d bad frames in a row, last: %v", maxBadFrames, lastErr)
}

// isByteRow reports whether m is a 1xN CV_8UC1 Mat: how backends return
// undecoded frames.
func isByteRow(m *gocv.Mat) bool {
	return m.Rows() == 1 && m.Type() == gocv.MatTypeCV8UC1 && m.IsContinuous()
}

// checkJPEG validates the raw frame in dst. A frame that is not a complete
// JPEG is decoded into dst instead.
func (s *vcSource) checkJPEG(dst *gocv.Mat) (Kind, error) {
	b, err := dst.DataPtrUint8()
	if err != nil {
		return KindPixels, err
	}
	_, _, err = jpeg.Inspect(b)
	if err == nil {
		return KindJPEG, nil
	}
	if !s.loggedBad {
		s.loggedBad = true
		s.log.Warn("capture: a frame from the source is not a clean JPEG; decoding such frames instead of passing them through (logged once)",
			"source", s.desc, "err", err)
	}
	return decodeInto(b, dst)
}

// decodeInto decodes the image in b (which may alias dst's memory) into dst
// as BGR pixels.
func decodeInto(b []byte, dst *gocv.Mat) (Kind, error) {
	dec, err := gocv.IMDecode(b, gocv.IMReadColor)
	if err != nil {
		return KindPixels, err // only for an empty b, with no Mat made
	}
	defer dec.Close()
	if dec.Empty() {
		return KindPixels, fmt.Errorf("frame of %d bytes does not decode", len(b))
	}
	dec.CopyTo(dst)
	return KindPixels, nil
}

// openFFmpeg opens a file or URL with OpenCV's FFmpeg backend.
func openFFmpeg(spec string, p parsedSpec, opt Options, log *slog.Logger) (Source, error) {
	desc := Describe(spec)
	file := p.kind == specFile
	if file {
		if _, err := os.Stat(p.path); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, errorf(ErrOpen, desc, "no such file")
			}
			return nil, errorf(ErrOpen, desc, "%v", err)
		}
	}
	vc, err := gocv.VideoCaptureFileWithAPI(p.path, gocv.VideoCaptureFFmpeg)
	if err != nil || !vc.IsOpened() {
		// The constructor allocates the capture even when it fails. Its
		// error is not wrapped: it would repeat the URL with credentials.
		vc.Close()
		what := "the FFmpeg backend cannot open it (unreachable, refused, or not a video)"
		if file {
			what = "the FFmpeg backend cannot open it (not a video file, or an unknown format)"
		}
		return nil, errorf(ErrOpen, desc, "%s", what)
	}
	s := &vcSource{vc: vc, desc: desc, log: log, loop: file}
	fcc := fourccString(vc.Get(gocv.VideoCaptureFOURCC))
	w, h := int(vc.Get(gocv.VideoCaptureFrameWidth)), int(vc.Get(gocv.VideoCaptureFrameHeight))
	fps := vc.Get(gocv.VideoCaptureFPS)

	path, why := "decode", ""
	switch {
	case !opt.WantJPEG:
		why = "JPEG passthrough not requested"
	case !isMJPEG(fcc):
		why = fmt.Sprintf("stream codec %q is not MJPEG", fcc)
	default:
		vc.Set(gocv.VideoCaptureFormat, -1)
		if vc.Get(gocv.VideoCaptureFormat) == -1 {
			s.raw = true
			path, why = "passthrough", "stream is MJPEG: its JPEG packets go out untouched"
		} else {
			why = "the backend refused raw packets (VideoCaptureFormat -1)"
		}
	}

	if file {
		s.nominal = fps
		if math.IsNaN(fps) || fps < 1 || fps > 240 {
			s.nominal = defaultNominalFPS
		}
		// A file that yields no frame at all is an error now, not a loop
		// of rewinds later. Probe one frame, then go back to the start.
		probe := gocv.NewMat()
		ok := vc.Read(&probe) && !probe.Empty()
		probe.Close()
		if !ok {
			s.Close()
			return nil, errorf(ErrNoFrames, desc, "no frame can be read (codec %q)", fcc)
		}
		vc.Set(gocv.VideoCapturePosFrames, 0)
	}
	log.Info("capture: source opened", "source", desc, "backend", "FFmpeg", "codec", fcc,
		"width", w, "height", h, "fps", fps, "path", path, "why", why)
	return s, nil
}

// openDevice opens a V4L2 device by index or path and negotiates format,
// size and rate; what the driver accepted is read back and logged.
func openDevice(p parsedSpec, opt Options, log *slog.Logger) (Source, error) {
	desc := "V4L2 device " + p.path
	var vc *gocv.VideoCapture
	var err error
	if p.index >= 0 {
		vc, err = gocv.VideoCaptureDeviceWithAPI(p.index, gocv.VideoCaptureV4L2)
	} else {
		vc, err = gocv.OpenVideoCaptureWithAPI(p.path, gocv.VideoCaptureV4L2)
	}
	if err != nil || vc == nil || !vc.IsOpened() {
		if vc != nil {
			vc.Close() // allocated even on error
		}
		if _, serr := os.Stat(p.path); serr != nil {
			return nil, errorf(ErrOpen, desc, "no such device (%v)", serr)
		}
		return nil, errorf(ErrOpen, desc, "the V4L2 backend cannot open it (busy, not a capture device, or no permission)")
	}

	// MJPG for passthrough, and for large sizes, which USB 2 webcams only
	// deliver at full rate compressed.
	wantMJPG := opt.WantJPEG || opt.Width*opt.Height >= 1280*720
	if wantMJPG {
		vc.Set(gocv.VideoCaptureFOURCC, fourcc("MJPG"))
	}
	vc.Set(gocv.VideoCaptureBufferSize, 1) // the freshest frame, not a queued one
	if opt.Width > 0 {
		vc.Set(gocv.VideoCaptureFrameWidth, float64(opt.Width))
	}
	if opt.Height > 0 {
		vc.Set(gocv.VideoCaptureFrameHeight, float64(opt.Height))
	}
	if opt.FPS > 0 {
		vc.Set(gocv.VideoCaptureFPS, opt.FPS)
	}
	fcc := fourccString(vc.Get(gocv.VideoCaptureFOURCC))
	s := &vcSource{vc: vc, desc: desc, log: log}
	path, why := "decode", ""
	switch {
	case !opt.WantJPEG:
		why = "JPEG passthrough not requested"
	case !isMJPEG(fcc):
		why = fmt.Sprintf("device delivers %q, not MJPG", fcc)
	default:
		vc.Set(gocv.VideoCaptureConvertRGB, 0)
		if vc.Get(gocv.VideoCaptureConvertRGB) == 0 {
			s.raw = true
			path, why = "passthrough", "device delivers MJPG: its JPEG buffers go out untouched"
		} else {
			why = "the driver refused to turn RGB conversion off"
		}
	}
	log.Info("capture: source opened", "source", desc, "backend", "V4L2",
		"codec", fcc, "codec_requested", map[bool]string{true: "MJPG", false: "default"}[wantMJPG],
		"width", int(vc.Get(gocv.VideoCaptureFrameWidth)), "height", int(vc.Get(gocv.VideoCaptureFrameHeight)),
		"width_requested", opt.Width, "height_requested", opt.Height,
		"fps", vc.Get(gocv.VideoCaptureFPS), "fps_requested", opt.FPS,
		"buffers", vc.Get(gocv.VideoCaptureBufferSize),
		"path", path, "why", why)
	return s, nil
}
