package wire

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// appendMessage encodes any Message with the matching Append function.
func appendMessage(dst []byte, m Message) ([]byte, error) {
	switch m := m.(type) {
	case *Hello:
		return AppendHello(dst, *m)
	case *Accept:
		return AppendAccept(dst, *m)
	case *Refuse:
		return AppendRefuse(dst, *m)
	case *Frame:
		return AppendFrame(dst, m.FrameHeader, m.Payload)
	case *Heartbeat:
		return AppendHeartbeat(dst, *m), nil
	case *Goodbye:
		return AppendGoodbye(dst, *m)
	case *Ready:
		return AppendReady(dst), nil
	}
	panic("appendMessage: unexpected type")
}

func mustEncode(t testing.TB, m Message) []byte {
	t.Helper()
	b, err := appendMessage(nil, m)
	if err != nil {
		t.Fatalf("encoding %T: %v", m, err)
	}
	return b
}

// rawMessage builds a message with a correct header around any body.
func rawMessage(t MsgType, body []byte) []byte {
	return append(appendHeader(nil, t, len(body)), body...)
}

// cat concatenates byte slices and strings into a new body.
func cat(parts ...any) []byte {
	var b []byte
	for _, p := range parts {
		switch p := p.(type) {
		case []byte:
			b = append(b, p...)
		case string:
			b = append(b, p...)
		case byte:
			b = append(b, p)
		case int:
			b = append(b, byte(p))
		case uint16:
			b = binary.BigEndian.AppendUint16(b, p)
		case uint32:
			b = binary.BigEndian.AppendUint32(b, p)
		case uint64:
			b = binary.BigEndian.AppendUint64(b, p)
		default:
			panic("cat: unexpected part")
		}
	}
	return b
}

// jpegStub is a tiny stand-in for a JPEG: SOI, APP0 marker, EOI.
var jpegStub = []byte{0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0x00, 0xff, 0xd9}

// samples are the messages with golden vectors, one or more per type.
var samples = []struct {
	name string
	msg  Message
}{
	{"hello", &Hello{Codec: CodecJPEG, Quality: 80, Token: "s3cret", Client: "viewer-1"}},
	{"hello_minimal", &Hello{Codec: CodecBGR}},
	{"accept", &Accept{Codec: CodecJPEG, Quality: 80, Width: 640, Height: 480, FPSMilli: 30000,
		HeartbeatMillis: 2000, MaxPayload: 1 << 20, Server: "camstream"}},
	{"refuse", &Refuse{Code: RefuseFull, Reason: "16 of 16 viewers connected"}},
	{"frame_jpeg", &Frame{FrameHeader: FrameHeader{Seq: 42, Captured: 1700000000123456789,
		Codec: CodecJPEG, Width: 640, Height: 480}, Payload: jpegStub}},
	{"frame_bgr_nosignal", &Frame{FrameHeader: FrameHeader{Seq: 43, Captured: 1700000000156789012,
		Codec: CodecBGR, Flags: FlagNoSignal, Width: 2, Height: 2},
		Payload: bytes.Repeat([]byte{0x00, 0x00, 0xff}, 4)}},
	{"heartbeat", &Heartbeat{Sent: 1700000001000000000}},
	{"goodbye", &Goodbye{Code: GoodbyeClient, Reason: "bye"}},
	{"ready", &Ready{}},
}

// sampleStream is a preamble followed by every sample message; ends lists
// the offset just past the preamble and past each message.
func sampleStream(t testing.TB) (stream []byte, ends []int) {
	stream = AppendPreamble(nil)
	ends = append(ends, len(stream))
	for _, s := range samples {
		stream = append(stream, mustEncode(t, s.msg)...)
		ends = append(ends, len(stream))
	}
	return stream, ends
}
