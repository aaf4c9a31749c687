// Package jpeg inspects and repairs complete JPEG images (JFIF/EXIF files and the
// frames of Motion-JPEG streams) without decoding them.
//
// It exists so that the server can pass a source's own JPEG bytes through to
// viewers untouched: Inspect checks that a buffer holds one whole image and
// reads its size; WithHuffman inserts the standard Huffman tables into the
// frames of MJPG webcams that omit them, which browsers and strict decoders
// otherwise refuse.
//
// The package uses the standard library only and never panics on malformed
// input: every length read from the data is bounds-checked before use.
package jpeg

import (
	"errors"
	"fmt"
)

// Errors returned by Inspect, WithHuffman and AppendWithHuffman. They are
// wrapped with detail (offsets, marker values); test with errors.Is.
var (
	// ErrNotJPEG: the data does not start with the SOI marker (FF D8).
	ErrNotJPEG = errors.New("jpeg: not a JPEG (no SOI marker)")
	// ErrTruncated: the data ends early: no EOI marker (FF D9) at the end, or a
	// segment runs past the end of the data.
	ErrTruncated = errors.New("jpeg: truncated")
	// ErrBadMarker: a byte where a marker must start is not FF, or the marker
	// is not allowed there (a second SOI, a restart marker before the scan, EOI
	// before any scan).
	ErrBadMarker = errors.New("jpeg: invalid marker")
	// ErrBadSegment: a segment's length field or contents are inconsistent.
	ErrBadSegment = errors.New("jpeg: malformed segment")
	// ErrNoFrameHeader: the first scan (SOS) is not preceded by a frame header (SOFn).
	ErrNoFrameHeader = errors.New("jpeg: no frame header (SOF) before the scan")
	// ErrBadFrameHeader: the frame header is malformed, repeated, or gives a zero size.
	ErrBadFrameHeader = errors.New("jpeg: malformed frame header")
	// ErrUnsupported: a coding process that browsers do not decode (lossless,
	// hierarchical or arithmetic-coded JPEG).
	ErrUnsupported = errors.New("jpeg: unsupported coding process")
)

// Info describes a complete baseline/progressive JPEG.
type Info struct {
	Width, Height int
	// HasHuffman reports that a DHT segment precedes the first SOS.
	HasHuffman bool
	// Progressive reports a progressive (SOF2) image; false for baseline and
	// extended sequential (SOF0, SOF1).
	Progressive bool
	// Components is the number of colour components (1 grey, 3 YCbCr, 4 CMYK).
	Components int
}

// Marker codes (the byte after FF), ITU T.81 table B.1.
const (
	markerSOF0 = 0xC0 // baseline DCT
	markerSOF1 = 0xC1 // extended sequential DCT, Huffman
	markerSOF2 = 0xC2 // progressive DCT, Huffman
	markerDHT  = 0xC4
	markerRST0 = 0xD0
	markerRST7 = 0xD7
	markerSOI  = 0xD8
	markerEOI  = 0xD9
	markerSOS  = 0xDA
	markerTEM  = 0x01
)

// isSOF reports whether m is one of the 13 start-of-frame markers
// (C0-CF except DHT C4, JPG C8 and DAC CC).
func isSOF(m byte) bool {
	return m >= 0xC0 && m <= 0xCF && m != markerDHT && m != 0xC8 && m != 0xCC
}

// layout is what walking the header tells about an image.
type layout struct {
	info   Info
	end    int // length through EOI
	sofPos int // offset of the FF of the frame header
}

// Inspect checks that b is one complete JPEG image and describes it.
//
// b must start with SOI (FF D8) and end with EOI (FF D9); zero bytes after the
// EOI (padding that cameras and V4L2 buffers add) are allowed and ignored. The
// returned length is the number of bytes through the EOI, so b[:n] is the
// image without padding. The marker segments up to the first scan (SOS) are
// walked with bounds checks; the entropy-coded data after it is not decoded.
// The width and height come from the frame header (SOF0, SOF1 or SOF2; the
// other coding processes give ErrUnsupported).
//
// On error the Info and length are zero; the error wraps one of the Err values
// of this package.
func Inspect(b []byte) (Info, int, error) {
	l, err := inspect(b)
	if err != nil {
		return Info{}, 0, err
	}
	return l.info, l.end, nil
}

func inspect(b []byte) (layout, error) {
	var l layout
	if len(b) < 2 || b[0] != 0xFF || b[1] != markerSOI {
		if len(b) == 1 && b[0] == 0xFF {
			return l, fmt.Errorf("%w: 1 byte", ErrTruncated)
		}
		return l, ErrNotJPEG
	}
	// The image ends at the last non-zero byte, which must close an EOI marker.
	end := len(b)
	for end > 0 && b[end-1] == 0 {
		end--
	}
	if end < 4 || b[end-2] != 0xFF || b[end-1] != markerEOI {
		return l, fmt.Errorf("%w: no EOI marker at the end (%d bytes)", ErrTruncated, len(b))
	}
	// Every segment before the scan must end before the final EOI.
	limit := end - 2
	pos := 2
	for {
		if pos >= limit {
			return l, fmt.Errorf("%w: no scan (SOS) before the end", ErrTruncated)
		}
		if b[pos] != 0xFF {
			return l, fmt.Errorf("%w: byte %#02x at offset %d where a marker must start", ErrBadMarker, b[pos], pos)
		}
		// Any number of FF fill bytes may precede a marker (T.81 B.1.1.2).
		mpos := pos
		for pos < limit && b[pos] == 0xFF {
			pos++
		}
		if pos >= limit {
			return l, fmt.Errorf("%w: fill bytes run to the end", ErrTruncated)
		}
		m := b[pos]
		pos++
		segStart := pos - 2 // offset of the FF directly before the marker code
		switch {
		case m == 0x00:
			return l, fmt.Errorf("%w: stuffed zero at offset %d outside the scan", ErrBadMarker, mpos)
		case m == markerSOI:
			return l, fmt.Errorf("%w: second SOI at offset %d", ErrBadMarker, segStart)
		case m == markerEOI:
			return l, fmt.Errorf("%w: EOI at offset %d before any scan", ErrBadMarker, segStart)
		case m >= markerRST0 && m <= markerRST7:
			return l, fmt.Errorf("%w: restart marker RST%d at offset %d outside the scan", ErrBadMarker, m-markerRST0, segStart)
		case m == markerTEM:
			continue // standalone, no length
		}
		// Every other marker has a two-byte big-endian length that counts
		// itself but not the marker.
		if pos+2 > limit {
			return l, fmt.Errorf("%w: segment %#02x at offset %d has no length", ErrTruncated, m, segStart)
		}
		n := int(b[pos])<<8 | int(b[pos+1])
		if n < 2 {
			return l, fmt.Errorf("%w: segment %#02x at offset %d has length %d", ErrBadSegment, m, segStart, n)
		}
		if pos+n > limit {
			return l, fmt.Errorf("%w: segment %#02x at offset %d (length %d) runs past the end", ErrTruncated, m, segStart, n)
		}
		seg := b[pos+2 : pos+n] // payload
		switch {
		case isSOF(m):
			if l.info.Width != 0 {
				return l, fmt.Errorf("%w: second frame header at offset %d", ErrBadFrameHeader, segStart)
			}
			if m != markerSOF0 && m != markerSOF1 && m != markerSOF2 {
				return l, fmt.Errorf("%w: SOF%d at offset %d", ErrUnsupported, m-markerSOF0, segStart)
			}
			if err := parseSOF(m, seg, &l.info); err != nil {
				return l, fmt.Errorf("%w (offset %d)", err, segStart)
			}
			l.sofPos = segStart
		case m == markerDHT:
			if err := checkDHT(seg); err != nil {
				return l, fmt.Errorf("%w (offset %d)", err, segStart)
			}
			l.info.HasHuffman = true
		case m == 0xCC: // DAC: arithmetic coding conditioning
			return l, fmt.Errorf("%w: arithmetic coding (DAC) at offset %d", ErrUnsupported, segStart)
		case m == markerSOS:
			if l.info.Width == 0 {
				return l, fmt.Errorf("%w: SOS at offset %d", ErrNoFrameHeader, segStart)
			}
			if err := checkSOS(seg, l.info.Components); err != nil {
				return l, fmt.Errorf("%w (offset %d)", err, segStart)
			}
			l.end = end
			return l, nil
		}
		pos += n
	}
}

// parseSOF reads a frame header payload (T.81 B.2.2): P, Y, X, Nf, then Nf
// three-byte component specifications.
func parseSOF(m byte, seg []byte, info *Info) error {
	if len(seg) < 6 {
		return fmt.Errorf("%w: %d bytes", ErrBadFrameHeader, len(seg))
	}
	p := seg[0]
	h := int(seg[1])<<8 | int(seg[2])
	w := int(seg[3])<<8 | int(seg[4])
	nf := int(seg[5])
	switch {
	case m == markerSOF0 && p != 8:
		return fmt.Errorf("%w: baseline precision %d", ErrBadFrameHeader, p)
	case p != 8 && p != 12:
		return fmt.Errorf("%w: precision %d", ErrBadFrameHeader, p)
	case w == 0 || h == 0:
		// A zero height means "given by a DNL segment after the first scan",
		// which nothing in this product produces or decoders handle well.
		return fmt.Errorf("%w: size %dx%d", ErrBadFrameHeader, w, h)
	case nf != 1 && nf != 3 && nf != 4:
		return fmt.Errorf("%w: %d components", ErrBadFrameHeader, nf)
	case len(seg) != 6+3*nf:
		return fmt.Errorf("%w: %d bytes for %d components", ErrBadFrameHeader, len(seg), nf)
	}
	for i := 0; i < nf; i++ {
		hv := seg[6+3*i+1]
		if hs, vs := hv>>4, hv&0x0F; hs < 1 || hs > 4 || vs < 1 || vs > 4 {
			return fmt.Errorf("%w: component %d sampling factors %dx%d", ErrBadFrameHeader, i, hs, vs)
		}
		if tq := seg[6+3*i+2]; tq > 3 {
			return fmt.Errorf("%w: component %d quantisation table %d", ErrBadFrameHeader, i, tq)
		}
	}
	info.Width, info.Height, info.Components = w, h, nf
	info.Progressive = m == markerSOF2
	return nil
}

// checkDHT validates a DHT payload (T.81 B.2.4.2): one or more tables, each a
// class/destination byte, 16 code-length counts and that many symbol values.
func checkDHT(seg []byte) error {
	if len(seg) == 0 {
		return fmt.Errorf("%w: empty DHT", ErrBadSegment)
	}
	for len(seg) > 0 {
		if len(seg) < 17 {
			return fmt.Errorf("%w: DHT table header of %d bytes", ErrBadSegment, len(seg))
		}
		tc, th := seg[0]>>4, seg[0]&0x0F
		if tc > 1 || th > 3 {
			return fmt.Errorf("%w: DHT class %d destination %d", ErrBadSegment, tc, th)
		}
		total := 0
		for _, c := range seg[1:17] {
			total += int(c)
		}
		if total == 0 || total > 256 {
			return fmt.Errorf("%w: DHT table with %d codes", ErrBadSegment, total)
		}
		if len(seg) < 17+total {
			return fmt.Errorf("%w: DHT table needs %d values, has %d", ErrBadSegment, total, len(seg)-17)
		}
		seg = seg[17+total:]
	}
	return nil
}

// checkSOS validates a scan header payload (T.81 B.2.3).
func checkSOS(seg []byte, components int) error {
	if len(seg) < 1 {
		return fmt.Errorf("%w: empty SOS", ErrBadSegment)
	}
	ns := int(seg[0])
	if ns < 1 || ns > 4 || ns > components {
		return fmt.Errorf("%w: SOS with %d components (frame has %d)", ErrBadSegment, ns, components)
	}
	if len(seg) != 1+2*ns+3 {
		return fmt.Errorf("%w: SOS of %d bytes for %d components", ErrBadSegment, len(seg), ns)
	}
	return nil
}

// WithHuffman returns b unchanged if it is a complete JPEG with Huffman
// tables. If it has none (the frames of many MJPG webcams omit the DHT
// segment and rely on the standard tables), it returns a new slice holding the
// image with the standard tables of ITU T.81 Annex K.3 inserted before the
// frame header, which is what mjpg-streamer does so that browsers accept the
// frames. The new slice ends at the EOI: trailing padding is dropped. b is
// never modified.
//
// Any error from Inspect is returned as is, with a nil slice.
func WithHuffman(b []byte) ([]byte, error) {
	l, err := inspect(b)
	if err != nil {
		return nil, err
	}
	if l.info.HasHuffman {
		return b, nil
	}
	return appendWithTables(make([]byte, 0, l.end+len(standardDHT)), b, l), nil
}

// AppendWithHuffman appends the image in b to dst and returns the extended
// slice: b through its EOI (padding dropped) if it has Huffman tables, else b
// with the standard tables inserted as WithHuffman does. It lets a caller
// reuse one buffer for every frame. On error dst is returned unchanged.
func AppendWithHuffman(dst, b []byte) ([]byte, error) {
	l, err := inspect(b)
	if err != nil {
		return dst, err
	}
	if l.info.HasHuffman {
		return append(dst, b[:l.end]...), nil
	}
	return appendWithTables(dst, b, l), nil
}

func appendWithTables(dst, b []byte, l layout) []byte {
	dst = append(dst, b[:l.sofPos]...)
	dst = append(dst, standardDHT...)
	return append(dst, b[l.sofPos:l.end]...)
}
