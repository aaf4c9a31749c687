// Package encode turns captured frames into the bytes viewers receive: once per format in use, however many
// viewers share that format, with the source's own JPEG passed through untouched when it can be.
package encode

import (
	"errors"
	"fmt"
	"time"

	"gocv.io/x/gocv"

	"github.com/camstream/camstream/pkg/capture"
	"github.com/camstream/camstream/pkg/metrics"
	"github.com/camstream/camstream/pkg/wire"
)

// Encoder encodes frames. It is used by one goroutine (the capture loop) at a time.
type Encoder struct {
	defaultQuality int
	m              *metrics.Metrics
	params         map[int][]int // IMEncodeWithParams arguments per quality, made once
	pix            gocv.Mat      // pixels decoded from a source JPEG when a format needs pixels; owned here
	hasPix         bool
}

// New returns an Encoder whose passthrough JPEG stands for JPEG at defaultQuality (the server's JPEG_QUALITY).
func New(defaultQuality int, m *metrics.Metrics) *Encoder {
	return &Encoder{defaultQuality: defaultQuality, m: m, params: make(map[int][]int), pix: gocv.NewMat()}
}

// Close frees the encoder's scratch Mat.
func (e *Encoder) Close() error { return e.pix.Close() }

// Encode returns frame cf as a Frame numbered seq, in every format of formats. A source JPEG is used as it is
// for JPEG at the default quality; other formats are made from pixels, decoding the source JPEG once if needed.
func (e *Encoder) Encode(cf *capture.Frame, seq uint64, formats []Format) (*Frame, error) {
	if !Fits(cf.Width, cf.Height) {
		return nil, fmt.Errorf("frame size %dx%d outside 1x1..%dx%d", cf.Width, cf.Height, wire.MaxWidth, wire.MaxHeight)
	}
	fr := &Frame{Seq: seq, Captured: cf.Captured, Width: cf.Width, Height: cf.Height, NoSignal: cf.NoSignal,
		Encodings: make([]Encoded, 0, len(formats))}
	hdr := wire.FrameHeader{Seq: seq, Captured: cf.Captured.UnixNano(), Width: uint16(cf.Width), Height: uint16(cf.Height)}
	if cf.NoSignal {
		hdr.Flags |= wire.FlagNoSignal
	}
	e.hasPix = false
	for _, f := range formats {
		hdr.Codec = f.Codec
		var (
			enc Encoded
			err error
		)
		switch {
		case f.Codec == wire.CodecJPEG && cf.Kind == capture.KindJPEG && f.Quality == e.defaultQuality:
			enc, err = message(f, hdr, cf.JPEG)
			fr.Passthrough = true
			e.m.Passthrough.Inc()
		case f.Codec == wire.CodecJPEG:
			enc, err = e.encodeJPEG(cf, f, hdr)
		case f.Codec == wire.CodecBGR:
			enc, err = e.encodeBGR(cf, f, hdr)
		default:
			err = fmt.Errorf("unknown codec %v", f.Codec)
		}
		if err != nil {
			return nil, fmt.Errorf("encode as %v: %w", f, err)
		}
		fr.Encodings = append(fr.Encodings, enc)
	}
	return fr, nil
}

// Fits reports whether a frame of w x h pixels can be sent (the protocol's maximum resolution).
func Fits(w, h int) bool {
	return w > 0 && h > 0 && w <= wire.MaxWidth && h <= wire.MaxHeight
}

// pixels returns cf as BGR pixels, decoding a source JPEG at most once per frame.
func (e *Encoder) pixels(cf *capture.Frame) (*gocv.Mat, error) {
	if cf.Kind == capture.KindPixels {
		return cf.Mat, nil
	}
	if !e.hasPix {
		m, err := gocv.IMDecode(cf.JPEG, gocv.IMReadColor)
		if err != nil || m.Empty() {
			m.Close()
			return nil, errors.New("decode source JPEG: not a decodable JPEG")
		}
		e.pix.Close()
		e.pix, e.hasPix = m, true
	}
	return &e.pix, nil
}

func (e *Encoder) encodeJPEG(cf *capture.Frame, f Format, hdr wire.FrameHeader) (Encoded, error) {
	pix, err := e.pixels(cf)
	if err != nil {
		return Encoded{}, err
	}
	params, ok := e.params[f.Quality]
	if !ok {
		params = []int{gocv.IMWriteJpegQuality, f.Quality}
		e.params[f.Quality] = params
	}
	start := time.Now()
	buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, *pix, params)
	if err != nil {
		return Encoded{}, fmt.Errorf("encode JPEG: %w", err)
	}
	defer buf.Close()
	if buf.Len() == 0 { // gocv ignores cv::imencode's result: an empty buffer is the only sign of failure
		return Encoded{}, errors.New("encode JPEG: OpenCV produced no bytes")
	}
	enc, err := message(f, hdr, buf.GetBytes())
	e.m.EncodeSeconds.WithLabelValues("jpeg").Observe(time.Since(start).Seconds())
	e.m.FramesEncoded.WithLabelValues("jpeg").Inc()
	return enc, err
}

func (e *Encoder) encodeBGR(cf *capture.Frame, f Format, hdr wire.FrameHeader) (Encoded, error) {
	pix, err := e.pixels(cf)
	if err != nil {
		return Encoded{}, err
	}
	if pix.Type() != gocv.MatTypeCV8UC3 || pix.Cols() != cf.Width || pix.Rows() != cf.Height {
		return Encoded{}, fmt.Errorf("pixels are %dx%d type %v, want %dx%d CV_8UC3", pix.Cols(), pix.Rows(), pix.Type(), cf.Width, cf.Height)
	}
	start := time.Now()
	var data []byte
	if pix.IsContinuous() {
		data, err = pix.DataPtrUint8() // a view: copied into the message below
	} else {
		data = pix.ToBytes()
	}
	if err != nil {
		return Encoded{}, fmt.Errorf("read pixels: %w", err)
	}
	enc, err := message(f, hdr, data)
	e.m.EncodeSeconds.WithLabelValues("bgr").Observe(time.Since(start).Seconds())
	e.m.FramesEncoded.WithLabelValues("bgr").Inc()
	return enc, err
}

// message builds the complete wire Frame message for payload in one allocation: header, then a copy of payload.
func message(f Format, hdr wire.FrameHeader, payload []byte) (Encoded, error) {
	msg := make([]byte, wire.FrameOverhead+len(payload))
	if err := wire.PutFrameHeader(msg, hdr, len(payload)); err != nil {
		return Encoded{}, err
	}
	copy(msg[wire.FrameOverhead:], payload)
	return Encoded{Format: f, Msg: msg, Payload: msg[wire.FrameOverhead:]}, nil
}
