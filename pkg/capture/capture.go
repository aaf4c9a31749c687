// Package capture reads video sources (V4L2 devices, video files, network
// streams and a built-in test pattern) into gocv Mats, keeps the server alive
// whatever the source does (Supervisor), and applies the seed's transforms
// (resize to a width, mirror).
//
// When a source already delivers JPEG (an MJPG webcam, an MJPEG AVI or
// stream) and no transform needs pixels, the source's own JPEG bytes are
// passed through untouched (KindJPEG) instead of decoding and re-encoding.
//
// Mat ownership: every Mat has one owner that closes it exactly once. A
// Source writes into a Mat its caller owns; the Supervisor owns the Mats it
// hands to emit; Transform.Apply writes into a scratch Mat its caller owns.
package capture

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"

	"gocv.io/x/gocv"
)

// Kind says what a Source put into the Mat.
type Kind int

const (
	// KindPixels: the Mat holds an 8-bit BGR image (CV_8UC3).
	KindPixels Kind = iota
	// KindJPEG: the Mat is 1xN CV_8UC1 and holds one complete JPEG, checked
	// with jpeg.Inspect. Zero padding may follow the EOI (V4L2 buffers):
	// the image is the first n bytes, n being the length Inspect returns.
	KindJPEG
)

func (k Kind) String() string {
	switch k {
	case KindPixels:
		return "pixels"
	case KindJPEG:
		return "jpeg"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Source is one opened video source. Read fills dst (owned and reused by the
// caller) with the next frame. Read and Close must not be called
// concurrently; Close must be called exactly once, also after Read failed.
type Source interface {
	Read(dst *gocv.Mat) (Kind, error)
	Close() error
	String() string
}

// NominalRater is implemented by sources that can deliver frames faster than
// real time (video files, the test pattern): NominalFPS is the rate at which
// the Supervisor reads them. Live sources (devices, network streams) do not
// implement it: their Read blocks until the next frame.
type NominalRater interface {
	NominalFPS() float64
}

// Options for opening a source.
type Options struct {
	// Width and Height are the requested size: for devices (the driver may
	// pick another, logged) and the test pattern (default 640x480). Files and
	// URLs keep their own size.
	Width, Height int
	// FPS is the requested rate for devices and the test pattern's nominal
	// rate (default 30). Pacing itself is the Supervisor's job.
	FPS float64
	// WantJPEG asks for the source's own JPEG bytes when it has them: device
	// MJPG with ConvertRGB off, FFmpeg MJPEG packets with VideoCaptureFormat -1.
	WantJPEG bool
	// Noise adds sensor-like noise to the test pattern (for benchmarks: it
	// makes JPEG sizes camera-like). Other sources ignore it.
	Noise bool
}

// Errors of Open, wrapped with the source's description (never its
// credentials); test with errors.Is.
var (
	// ErrOpen: the backend could not open the source (missing device or
	// file, unreachable URL, unknown format).
	ErrOpen = errors.New("capture: cannot open source")
	// ErrNoFrames: a video file opened but yields no frame.
	ErrNoFrames = errors.New("capture: source yields no frame")
	// ErrRead: a source that was open stopped delivering frames.
	ErrRead = errors.New("capture: read failed")
)

// TestPatternSpec is the spec of the built-in test pattern.
const TestPatternSpec = "testpattern"

type specKind int

const (
	specTestPattern specKind = iota
	specDevice               // V4L2: index or /dev path
	specURL                  // FFmpeg network stream
	specFile                 // FFmpeg file, looped
)

// parsedSpec is a classified source spec.
type parsedSpec struct {
	kind  specKind
	index int    // device index, -1 when the device is a path
	path  string // device path, URL or file path
}

// parseSpec classifies spec: "testpattern", a device index ("0"), a device
// path (anything under /dev/, e.g. /dev/video0 or /dev/v4l/by-id/...), a URL
// (scheme://...: rtsp, http, https and whatever else FFmpeg opens), or else a
// file path.
func parseSpec(spec string) parsedSpec {
	s := strings.TrimSpace(spec)
	switch {
	case strings.EqualFold(s, TestPatternSpec):
		return parsedSpec{kind: specTestPattern, index: -1}
	case isDigits(s):
		n, err := strconv.Atoi(s)
		if err == nil {
			return parsedSpec{kind: specDevice, index: n, path: "/dev/video" + strconv.Itoa(n)}
		}
	case strings.HasPrefix(s, "/dev/"):
		return parsedSpec{kind: specDevice, index: -1, path: s}
	case isURL(s):
		return parsedSpec{kind: specURL, index: -1, path: s}
	}
	return parsedSpec{kind: specFile, index: -1, path: spec}
}

func isDigits(s string) bool {
	if s == "" || len(s) > 4 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// isURL reports whether s starts with scheme:// (RFC 3986 scheme, at least
// two letters, so that C:\x is not taken for a URL).
func isURL(s string) bool {
	i := strings.Index(s, "://")
	if i < 2 {
		return false
	}
	for j, c := range s[:i] {
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !letter && (j == 0 || !(c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	return true
}

// Describe classifies spec for logs, errors and the NO SIGNAL card:
// "test pattern", "V4L2 device /dev/video0", "file x.avi", "URL rtsp://host/…".
// URLs lose any user:password@ and the values of query parameters that look
// like secrets (password, token, key, ...).
func Describe(spec string) string {
	p := parseSpec(spec)
	switch p.kind {
	case specTestPattern:
		return "test pattern"
	case specDevice:
		return "V4L2 device " + p.path
	case specURL:
		return "URL " + redactURL(p.path)
	}
	return "file " + spec
}

// secretParams are substrings of query parameter names whose values Describe hides.
var secretParams = []string{"pass", "pwd", "secret", "token", "key", "auth", "sig", "cred"}

// redactURL removes credentials from a URL. When the URL does not parse, the
// userinfo is cut by hand: everything between "://" and the last "@" before
// the path.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		i := strings.Index(raw, "://")
		rest := raw[i+3:]
		host := rest
		if j := strings.IndexAny(rest, "/?#"); j >= 0 {
			host = rest[:j]
		}
		if at := strings.LastIndex(host, "@"); at >= 0 {
			rest = rest[at+1:]
		}
		if j := strings.IndexAny(rest, "?#"); j >= 0 {
			rest = rest[:j] // an unparsable query may hold secrets too
		}
		return raw[:i+3] + rest
	}
	u.User = nil
	if u.RawQuery != "" {
		q := u.Query()
		for name := range q {
			lower := strings.ToLower(name)
			for _, s := range secretParams {
				if strings.Contains(lower, s) {
					q[name] = []string{"REDACTED"}
					break
				}
			}
		}
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// Open opens spec (see Describe for the forms) and returns a Source that
// reads it. log receives what the source negotiated and which path frames
// take (passthrough or decode, and why); nil discards it.
//
// Errors wrap ErrOpen or ErrNoFrames and name the source by Describe, never
// with its credentials.
func Open(spec string, opt Options, log *slog.Logger) (Source, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := parseSpec(spec)
	switch p.kind {
	case specTestPattern:
		s := newPatternSource(opt)
		w, h := s.tp.Size()
		log.Info("capture: source opened", "source", "test pattern", "width", w, "height", h, "fps", s.fps,
			"noise", opt.Noise, "path", "pixels", "why", "the test pattern is drawn, it has no JPEG of its own")
		return s, nil
	case specDevice:
		return openDevice(p, opt, log)
	default:
		return openFFmpeg(spec, p, opt, log)
	}
}

// fourccString decodes a FOURCC property value into its four characters
// (little-endian, as cv::VideoWriter::fourcc packs them); unprintable bytes
// become '?'.
func fourccString(v float64) string {
	if v <= 0 || v > 0xFFFFFFFF {
		return ""
	}
	n := uint32(v)
	b := []byte{byte(n), byte(n >> 8), byte(n >> 16), byte(n >> 24)}
	for i, c := range b {
		if c < 0x20 || c > 0x7E {
			b[i] = '?'
		}
	}
	return string(b)
}

// fourcc packs four characters as cv::VideoWriter::fourcc does.
func fourcc(s string) float64 {
	if len(s) != 4 {
		return 0
	}
	return float64(uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24)
}

// isMJPEG reports whether a stream FOURCC is Motion-JPEG: "MJPG" (AVI, V4L2)
// in any case, or "mjpe", which OpenCV's FFmpeg backend reports for MJPEG in
// containers without a codec tag (Matroska): the first four letters of
// FFmpeg's codec name "mjpeg".
func isMJPEG(fcc string) bool {
	return strings.EqualFold(fcc, "MJPG") || fcc == "mjpe"
}

func errorf(sentinel error, desc, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", sentinel, desc, fmt.Sprintf(format, args...))
}
