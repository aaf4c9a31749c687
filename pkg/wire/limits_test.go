package wire

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// TestEncodeLimits checks every field bound at and just past its limit: the
// encoder must accept the former (and the decoder read it back) and refuse
// the latter with ErrMalformed.
func TestEncodeLimits(t *testing.T) {
	x := strings.Repeat
	okHeader := FrameHeader{Codec: CodecJPEG, Width: 640, Height: 480}
	frame := func(mod func(*FrameHeader), payload []byte) Message {
		h := okHeader
		mod(&h)
		return &Frame{FrameHeader: h, Payload: payload}
	}
	bgr := func(w, h uint16, n int) Message {
		return &Frame{FrameHeader: FrameHeader{Codec: CodecBGR, Width: w, Height: h}, Payload: make([]byte, n)}
	}
	tests := []struct {
		name string
		msg  Message
		ok   bool
	}{
		{"token 256", &Hello{Codec: CodecJPEG, Token: x("t", MaxTokenLen)}, true},
		{"token 257", &Hello{Codec: CodecJPEG, Token: x("t", MaxTokenLen+1)}, false},
		{"token invalid UTF-8", &Hello{Codec: CodecJPEG, Token: "\xff"}, false},
		{"client 64", &Hello{Codec: CodecJPEG, Client: x("c", MaxNameLen)}, true},
		{"client 64 multibyte", &Hello{Codec: CodecJPEG, Client: x("é", MaxNameLen/2)}, true},
		{"client 65", &Hello{Codec: CodecJPEG, Client: x("c", MaxNameLen+1)}, false},
		{"client invalid UTF-8", &Hello{Codec: CodecJPEG, Client: "a\xc3"}, false},
		{"hello codec 0", &Hello{Codec: 0}, false},
		{"hello codec 3", &Hello{Codec: 3}, false},
		{"hello quality 255", &Hello{Codec: CodecJPEG, Quality: 255}, true},
		{"server 64", &Accept{Codec: CodecBGR, Server: x("s", MaxNameLen)}, true},
		{"server 65", &Accept{Codec: CodecBGR, Server: x("s", MaxNameLen+1)}, false},
		{"server invalid UTF-8", &Accept{Codec: CodecBGR, Server: "\xed\xa0\x80"}, false},
		{"accept codec 3", &Accept{Codec: 3}, false},
		{"accept size 0x0", &Accept{Codec: CodecJPEG}, true},
		{"accept size max", &Accept{Codec: CodecJPEG, Width: MaxWidth, Height: MaxHeight}, true},
		{"accept width max+1", &Accept{Codec: CodecJPEG, Width: MaxWidth + 1, Height: 1}, false},
		{"accept height max+1", &Accept{Codec: CodecJPEG, Width: 1, Height: MaxHeight + 1}, false},
		{"accept all max", &Accept{Codec: CodecJPEG, Quality: 255, FPSMilli: 1<<32 - 1,
			HeartbeatMillis: 1<<32 - 1, MaxPayload: 1<<32 - 1}, true},
		{"refuse reason 1024", &Refuse{Code: RefuseAuth, Reason: x("r", MaxReasonLen)}, true},
		{"refuse reason 1025", &Refuse{Code: RefuseAuth, Reason: x("r", MaxReasonLen+1)}, false},
		{"refuse invalid UTF-8", &Refuse{Code: RefuseAuth, Reason: "\x80"}, false},
		{"refuse unknown code", &Refuse{Code: 200}, true},
		{"goodbye reason 1024", &Goodbye{Code: GoodbyeSlow, Reason: x("g", MaxReasonLen)}, true},
		{"goodbye reason 1025", &Goodbye{Code: GoodbyeSlow, Reason: x("g", MaxReasonLen+1)}, false},
		{"goodbye invalid UTF-8", &Goodbye{Code: GoodbyeSlow, Reason: "\xc0\xaf"}, false},
		{"goodbye unknown code", &Goodbye{Code: 0}, true},
		{"frame width 1", frame(func(h *FrameHeader) { h.Width = 1 }, jpegStub), true},
		{"frame width 0", frame(func(h *FrameHeader) { h.Width = 0 }, jpegStub), false},
		{"frame width max", frame(func(h *FrameHeader) { h.Width = MaxWidth }, jpegStub), true},
		{"frame width max+1", frame(func(h *FrameHeader) { h.Width = MaxWidth + 1 }, jpegStub), false},
		{"frame height 1", frame(func(h *FrameHeader) { h.Height = 1 }, jpegStub), true},
		{"frame height 0", frame(func(h *FrameHeader) { h.Height = 0 }, jpegStub), false},
		{"frame height max", frame(func(h *FrameHeader) { h.Height = MaxHeight }, jpegStub), true},
		{"frame height max+1", frame(func(h *FrameHeader) { h.Height = MaxHeight + 1 }, jpegStub), false},
		{"frame codec 0", frame(func(h *FrameHeader) { h.Codec = 0 }, jpegStub), false},
		{"frame codec 3", frame(func(h *FrameHeader) { h.Codec = 3 }, jpegStub), false},
		{"frame reserved flags", frame(func(h *FrameHeader) { h.Flags = 0xff }, jpegStub), true},
		{"frame empty payload", frame(func(*FrameHeader) {}, nil), false},
		{"frame 1-byte payload", frame(func(*FrameHeader) {}, []byte{0}), true},
		{"bgr exact", bgr(4, 3, 36), true},
		{"bgr short", bgr(4, 3, 35), false},
		{"bgr long", bgr(4, 3, 37), false},
		{"bgr 1x1", bgr(1, 1, 3), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := appendMessage(nil, tt.msg)
			if !tt.ok {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("encode: err = %v, want ErrMalformed", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			got, err := NewReader(bytes.NewReader(b), DefaultLimits()).Next()
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !reflect.DeepEqual(got, tt.msg) {
				t.Fatalf("decode = %+v, want %+v", got, tt.msg)
			}
		})
	}
}

// TestControlBodiesFit checks that the largest encodable control messages
// stay within MaxControlBody.
func TestControlBodiesFit(t *testing.T) {
	x := strings.Repeat
	for _, m := range []Message{
		&Hello{Codec: CodecJPEG, Token: x("t", MaxTokenLen), Client: x("c", MaxNameLen)},
		&Accept{Codec: CodecJPEG, Server: x("s", MaxNameLen)},
		&Refuse{Reason: x("r", MaxReasonLen)},
		&Goodbye{Reason: x("g", MaxReasonLen)},
		&Heartbeat{},
	} {
		if n := len(mustEncode(t, m)) - HeaderLen; n > MaxControlBody {
			t.Errorf("largest %T body is %d bytes, over MaxControlBody", m, n)
		}
	}
}
