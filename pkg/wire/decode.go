package wire

import (
	"encoding/binary"
	"fmt"
)

// The Decode functions parse one message body (without its message header).
// They reject truncated fields, trailing bytes and every value the matching
// Append function would refuse to encode, with a *FormatError.

// parser reads big-endian fields from a body. The first failure sticks in err
// and turns later reads into no-ops returning zero values.
type parser struct {
	t   MsgType
	b   []byte
	err error
}

func (p *parser) take(n int, field string) []byte {
	if p.err != nil {
		return nil
	}
	if len(p.b) < n {
		p.err = formatErr(p.t, "truncated %s: need %d bytes, have %d", field, n, len(p.b))
		return nil
	}
	v := p.b[:n]
	p.b = p.b[n:]
	return v
}

func (p *parser) u8(field string) uint8 {
	if b := p.take(1, field); b != nil {
		return b[0]
	}
	return 0
}

func (p *parser) u16(field string) uint16 {
	if b := p.take(2, field); b != nil {
		return binary.BigEndian.Uint16(b)
	}
	return 0
}

func (p *parser) u32(field string) uint32 {
	if b := p.take(4, field); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

func (p *parser) u64(field string) uint64 {
	if b := p.take(8, field); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

// str reads a string of n bytes, checking n against max before copying.
func (p *parser) str(n int, max int, field string) string {
	if p.err == nil && n > max {
		p.err = formatErr(p.t, "%s is %d bytes, max %d", field, n, max)
	}
	return string(p.take(n, field))
}

func (p *parser) str8(max int, field string) string {
	return p.str(int(p.u8(field+" length")), max, field)
}

func (p *parser) str16(max int, field string) string {
	return p.str(int(p.u16(field+" length")), max, field)
}

// done returns the first error, or a FormatError if bytes are left over.
func (p *parser) done() error {
	if p.err == nil && len(p.b) != 0 {
		p.err = formatErr(p.t, "%d trailing bytes", len(p.b))
	}
	return p.err
}

// DecodeHello parses a Hello body.
func DecodeHello(body []byte) (*Hello, error) {
	p := parser{t: MsgHello, b: body}
	h := &Hello{
		Codec:   Codec(p.u8("codec")),
		Quality: p.u8("quality"),
		Token:   p.str16(MaxTokenLen, "token"),
		Client:  p.str8(MaxNameLen, "client name"),
	}
	if err := p.done(); err != nil {
		return nil, err
	}
	if err := h.check(); err != nil {
		return nil, err
	}
	return h, nil
}

// DecodeAccept parses an Accept body.
func DecodeAccept(body []byte) (*Accept, error) {
	p := parser{t: MsgAccept, b: body}
	a := &Accept{
		Codec:           Codec(p.u8("codec")),
		Quality:         p.u8("quality"),
		Width:           p.u16("width"),
		Height:          p.u16("height"),
		FPSMilli:        p.u32("fps_milli"),
		HeartbeatMillis: p.u32("heartbeat_ms"),
		MaxPayload:      p.u32("max_payload"),
		Server:          p.str8(MaxNameLen, "server name"),
	}
	if err := p.done(); err != nil {
		return nil, err
	}
	if err := a.check(); err != nil {
		return nil, err
	}
	return a, nil
}

// DecodeRefuse parses a Refuse body.
func DecodeRefuse(body []byte) (*Refuse, error) {
	p := parser{t: MsgRefuse, b: body}
	r := &Refuse{Code: RefuseCode(p.u8("code")), Reason: p.str16(MaxReasonLen, "reason")}
	if err := p.done(); err != nil {
		return nil, err
	}
	if err := r.check(); err != nil {
		return nil, err
	}
	return r, nil
}

// DecodeHeartbeat parses a Heartbeat body.
func DecodeHeartbeat(body []byte) (*Heartbeat, error) {
	p := parser{t: MsgHeartbeat, b: body}
	h := &Heartbeat{Sent: int64(p.u64("sent time"))}
	if err := p.done(); err != nil {
		return nil, err
	}
	return h, nil
}

// DecodeGoodbye parses a Goodbye body.
func DecodeGoodbye(body []byte) (*Goodbye, error) {
	p := parser{t: MsgGoodbye, b: body}
	g := &Goodbye{Code: GoodbyeCode(p.u8("code")), Reason: p.str16(MaxReasonLen, "reason")}
	if err := p.done(); err != nil {
		return nil, err
	}
	if err := g.check(); err != nil {
		return nil, err
	}
	return g, nil
}

// DecodeReady parses a Ready body, which must be empty.
func DecodeReady(body []byte) (*Ready, error) {
	if len(body) != 0 {
		return nil, formatErr(MsgReady, "body is %d bytes, want 0", len(body))
	}
	return &Ready{}, nil
}

// DecodeFrame parses a Frame body. The returned Payload aliases body.
func DecodeFrame(body []byte) (*Frame, error) {
	f := new(Frame)
	if err := decodeFrame(f, body); err != nil {
		return nil, err
	}
	return f, nil
}

// decodeFrame parses body into f without allocating.
func decodeFrame(f *Frame, body []byte) error {
	if len(body) < FrameHeaderLen {
		return formatErr(MsgFrame, "truncated frame header: %d bytes, need %d", len(body), FrameHeaderLen)
	}
	f.FrameHeader = FrameHeader{
		Seq:      binary.BigEndian.Uint64(body[0:8]),
		Captured: int64(binary.BigEndian.Uint64(body[8:16])),
		Codec:    Codec(body[16]),
		Flags:    body[17],
		Width:    binary.BigEndian.Uint16(body[18:20]),
		Height:   binary.BigEndian.Uint16(body[20:22]),
	}
	f.Payload = body[FrameHeaderLen:]
	return f.check(len(f.Payload))
}

// decodeBody dispatches on t; frames are decoded into f.
func decodeBody(t MsgType, body []byte, f *Frame) (Message, error) {
	switch t {
	case MsgHello:
		return msg(DecodeHello(body))
	case MsgAccept:
		return msg(DecodeAccept(body))
	case MsgRefuse:
		return msg(DecodeRefuse(body))
	case MsgFrame:
		if err := decodeFrame(f, body); err != nil {
			return nil, err
		}
		return f, nil
	case MsgHeartbeat:
		return msg(DecodeHeartbeat(body))
	case MsgGoodbye:
		return msg(DecodeGoodbye(body))
	case MsgReady:
		return msg(DecodeReady(body))
	}
	return nil, fmt.Errorf("%w %d", ErrUnknownType, uint8(t))
}

// msg converts a decoder's result, so that a failed decode yields a nil
// Message rather than an interface holding a nil pointer.
func msg[M Message](m M, err error) (Message, error) {
	if err != nil {
		return nil, err
	}
	return m, nil
}
