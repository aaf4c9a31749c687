package wire

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
)

// Limits bounds what a Reader accepts.
type Limits struct {
	// MaxPayload is the largest frame payload accepted, in bytes;
	// 0 = frames are refused (a server reading a client).
	MaxPayload int
}

// DefaultLimits returns limits that accept any frame this protocol can
// describe sensibly: MaxPayload = MaxWidth*MaxHeight*3, a full 8K BGR picture.
func DefaultLimits() Limits { return Limits{MaxPayload: MaxWidth * MaxHeight * 3} }

const (
	readerBufSize = 64 << 10 // size of the Reader's bufio.Reader
	readChunk     = 1 << 20  // a body buffer grows by at most this much per read
)

// Reader reads a preamble and then messages from a stream. It checks each
// body length against its limits before reading the body and grows its body
// buffer only as bytes arrive, so a peer announcing a huge message and
// sending nothing costs nothing. The body buffer and the *Frame returned by
// Next are reused: reading frames does not allocate in steady state.
//
// Any error from Next or ReadPreamble leaves the stream at an unknown
// position and should be treated as fatal for the connection. A Reader is
// not safe for concurrent use.
type Reader struct {
	br       *bufio.Reader
	maxFrame int64 // largest Frame body accepted; 0 = none
	hdr      [HeaderLen]byte
	body     []byte // reused body buffer
	frame    Frame  // reused result for Frame messages
}

// NewReader returns a Reader reading from r through a 64 KiB bufio.Reader.
func NewReader(r io.Reader, lim Limits) *Reader {
	rd := &Reader{br: bufio.NewReaderSize(r, readerBufSize)}
	rd.SetLimits(lim)
	return rd
}

// SetLimits replaces the Reader's limits, e.g. once a client has read the
// server's Accept and knows its MaxPayload.
func (r *Reader) SetLimits(lim Limits) {
	r.maxFrame = 0
	if lim.MaxPayload > 0 {
		r.maxFrame = min(FrameHeaderLen+int64(lim.MaxPayload), maxFrameBody)
	}
}

// ReadPreamble reads and parses the peer's preamble (see ParsePreamble). It
// returns io.EOF if the stream ends before its first byte.
func (r *Reader) ReadPreamble() (uint16, error) {
	var b [PreambleLen]byte
	if _, err := io.ReadFull(r.br, b[:]); err != nil {
		if err == io.EOF {
			return 0, io.EOF
		}
		return 0, fmt.Errorf("wire: reading preamble: %w", err)
	}
	return ParsePreamble(b[:])
}

// Next reads the next message. It returns io.EOF if the stream ends cleanly
// between messages, and an error wrapping io.ErrUnexpectedEOF if it ends
// inside one. A returned *Frame, and its Payload, are valid until the next
// call to Next.
func (r *Reader) Next() (Message, error) {
	if _, err := io.ReadFull(r.br, r.hdr[:]); err != nil {
		if err == io.EOF {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("wire: reading message header: %w", err)
	}
	t := MsgType(r.hdr[0])
	n := int64(binary.BigEndian.Uint32(r.hdr[1:]))
	if !t.known() {
		return nil, fmt.Errorf("%w %d (body of %d bytes)", ErrUnknownType, uint8(t), n)
	}
	max := int64(MaxControlBody)
	if t == MsgFrame {
		max = r.maxFrame
	}
	if n > max {
		return nil, &LimitError{Type: t, Len: int(n), Max: int(max)}
	}
	body, err := r.readBody(int(n))
	if err != nil {
		return nil, fmt.Errorf("wire: reading %s body (%d bytes): %w", t, n, err)
	}
	return decodeBody(t, body, &r.frame)
}

// readBody reads an n-byte body into the reused buffer. When the buffer is
// too small it grows at most readChunk bytes ahead of the data received.
func (r *Reader) readBody(n int) ([]byte, error) {
	b := r.body[:0]
	for len(b) < n {
		chunk := min(n-len(b), readChunk)
		if cap(b)-len(b) < chunk {
			nb := make([]byte, len(b), min(max(2*cap(b), len(b)+chunk), n))
			copy(nb, b)
			b = nb
			r.body = nb
		}
		m, err := io.ReadFull(r.br, b[len(b):len(b)+chunk])
		b = b[:len(b)+m]
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("got %d bytes: %w", len(b), err)
		}
	}
	return b, nil
}
