package wire

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// TestDecodeMalformed feeds hand-built bodies that break one rule each.
func TestDecodeMalformed(t *testing.T) {
	x := strings.Repeat
	u16, u32, u64 := func(v int) uint16 { return uint16(v) }, func(v int) uint32 { return uint32(v) }, func(v int) uint64 { return uint64(v) }
	// Valid bodies, to which the cases add one defect.
	hello := func(codec int, token, client string) []byte {
		return cat(codec, 0, u16(len(token)), token, len(client), client)
	}
	accept := func(codec, w, h int, server string) []byte {
		return cat(codec, 0, u16(w), u16(h), u32(0), u32(0), u32(0), len(server), server)
	}
	frame := func(codec, w, h int, payload []byte) []byte {
		return cat(u64(1), u64(2), codec, 0, u16(w), u16(h), payload)
	}
	tests := []struct {
		name string
		t    MsgType
		body []byte
	}{
		{"hello empty", MsgHello, nil},
		{"hello codec 0", MsgHello, hello(0, "", "")},
		{"hello codec 3", MsgHello, hello(3, "", "")},
		{"hello token 257", MsgHello, hello(1, x("t", 257), "")},
		{"hello token length past end", MsgHello, cat(1, 0, u16(10), "abc")},
		{"hello token invalid UTF-8", MsgHello, hello(1, "\xff\xfe", "")},
		{"hello client 65", MsgHello, hello(1, "", x("c", 65))},
		{"hello client 255", MsgHello, hello(1, "", x("c", 255))},
		{"hello client invalid UTF-8", MsgHello, hello(1, "", "caf\xe9")},
		{"hello missing client length", MsgHello, cat(1, 0, u16(0))},
		{"hello trailing byte", MsgHello, append(hello(1, "t", "c"), 0)},
		{"accept empty", MsgAccept, nil},
		{"accept codec 0", MsgAccept, accept(0, 1, 1, "")},
		{"accept width max+1", MsgAccept, accept(1, MaxWidth+1, 1, "")},
		{"accept height max+1", MsgAccept, accept(1, 1, MaxHeight+1, "")},
		{"accept server 65", MsgAccept, accept(1, 1, 1, x("s", 65))},
		{"accept server invalid UTF-8", MsgAccept, accept(1, 1, 1, "\xc3(")},
		{"accept truncated fixed fields", MsgAccept, accept(1, 1, 1, "")[:acceptFixedLen-1]},
		{"accept trailing byte", MsgAccept, append(accept(1, 1, 1, "s"), 's')},
		{"refuse empty", MsgRefuse, nil},
		{"refuse no reason length", MsgRefuse, cat(1)},
		{"refuse reason 1025", MsgRefuse, cat(1, u16(1025), x("r", 1025))},
		{"refuse reason 65535 claimed", MsgRefuse, cat(1, u16(65535), "r")},
		{"refuse invalid UTF-8", MsgRefuse, cat(1, u16(1), "\x80")},
		{"refuse trailing byte", MsgRefuse, cat(1, u16(1), "r", "!")},
		{"heartbeat empty", MsgHeartbeat, nil},
		{"heartbeat 7 bytes", MsgHeartbeat, make([]byte, 7)},
		{"heartbeat 9 bytes", MsgHeartbeat, make([]byte, 9)},
		{"ready 1 byte", MsgReady, []byte{1}},
		{"ready 8 bytes", MsgReady, make([]byte, 8)},
		{"goodbye empty", MsgGoodbye, nil},
		{"goodbye reason 1025", MsgGoodbye, cat(1, u16(1025), x("g", 1025))},
		{"goodbye reason past end", MsgGoodbye, cat(1, u16(5), "bye")},
		{"goodbye invalid UTF-8", MsgGoodbye, cat(1, u16(2), "\xe2\x82")},
		{"goodbye trailing byte", MsgGoodbye, cat(1, u16(0), 0)},
		{"frame empty", MsgFrame, nil},
		{"frame header only", MsgFrame, frame(1, 1, 1, nil)},
		{"frame header truncated", MsgFrame, frame(1, 1, 1, nil)[:FrameHeaderLen-1]},
		{"frame codec 0", MsgFrame, frame(0, 1, 1, jpegStub)},
		{"frame codec 255", MsgFrame, frame(255, 1, 1, jpegStub)},
		{"frame width 0", MsgFrame, frame(1, 0, 1, jpegStub)},
		{"frame height 0", MsgFrame, frame(1, 1, 0, jpegStub)},
		{"frame width max+1", MsgFrame, frame(1, MaxWidth+1, 1, jpegStub)},
		{"frame height max+1", MsgFrame, frame(1, 1, MaxHeight+1, jpegStub)},
		{"frame width 65535", MsgFrame, frame(1, 65535, 1, jpegStub)},
		{"frame bgr short", MsgFrame, frame(2, 2, 2, make([]byte, 11))},
		{"frame bgr long", MsgFrame, frame(2, 2, 2, make([]byte, 13))},
		{"frame bgr jpeg-sized", MsgFrame, frame(2, 640, 480, jpegStub)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := decodeBody(tt.t, tt.body, new(Frame))
			var fe *FormatError
			if !errors.As(err, &fe) || !errors.Is(err, ErrMalformed) {
				t.Fatalf("decode = %+v, %v; want a *FormatError", m, err)
			}
			if m != nil {
				t.Fatalf("decode returned %#v with its error", m)
			}
			if fe.Type != tt.t {
				t.Errorf("FormatError.Type = %v, want %v", fe.Type, tt.t)
			}
			// The same through a Reader.
			_, err = NewReader(bytes.NewReader(rawMessage(tt.t, tt.body)), DefaultLimits()).Next()
			if !errors.As(err, &fe) {
				t.Fatalf("Reader.Next: %v, want a *FormatError", err)
			}
			t.Log(err)
		})
	}
}

// TestDecodeTruncatedBody checks every proper prefix of every sample body.
// Frame bodies are only cut inside the frame header: a shorter JPEG payload
// is still a valid frame.
func TestDecodeTruncatedBody(t *testing.T) {
	for _, s := range samples {
		body := mustEncode(t, s.msg)[HeaderLen:]
		n := len(body)
		if s.msg.Type() == MsgFrame {
			n = FrameHeaderLen + 1
		}
		for i := range n {
			if m, err := decodeBody(s.msg.Type(), body[:i], new(Frame)); !errors.Is(err, ErrMalformed) {
				t.Errorf("%s cut at %d: %+v, %v; want ErrMalformed", s.name, i, m, err)
			}
		}
	}
}

// TestDecodeFrameAliases checks that a decoded payload shares the body's memory.
func TestDecodeFrameAliases(t *testing.T) {
	body := mustEncode(t, samples[4].msg)[HeaderLen:]
	f, err := DecodeFrame(body)
	if err != nil {
		t.Fatal(err)
	}
	if &f.Payload[0] != &body[FrameHeaderLen] {
		t.Fatal("Payload does not alias body")
	}
}

func TestParsePreamble(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		version uint16
		want    error
	}{
		{"ok", "CAMS\x00\x01", 1, nil},
		{"version 0", "CAMS\x00\x00", 0, ErrVersion},
		{"version 2", "CAMS\x00\x02", 2, ErrVersion},
		{"version 256", "CAMS\x01\x00", 256, ErrVersion},
		{"lower case magic", "cams\x00\x01", 0, ErrBadMagic},
		{"http", "GET / ", 0, ErrBadMagic},
		{"pickle stream", "\x00\x00\x12\x34\x80\x04", 0, ErrBadMagic},
		{"short", "CAMS\x00", 0, ErrMalformed},
		{"long", "CAMS\x00\x01\x00", 0, ErrMalformed},
		{"empty", "", 0, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := ParsePreamble([]byte(tt.in))
			if v != tt.version || !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("ParsePreamble(%q) = %d, %v; want %d, %v", tt.in, v, err, tt.version, tt.want)
			}
			if tt.want == ErrVersion {
				var ve *VersionError
				if !errors.As(err, &ve) || ve.Got != tt.version {
					t.Fatalf("error %v is not a *VersionError{Got: %d}", err, tt.version)
				}
			}
		})
	}
}
