package wire

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	for _, s := range samples {
		t.Run(s.name, func(t *testing.T) {
			b := mustEncode(t, s.msg)
			if MsgType(b[0]) != s.msg.Type() {
				t.Fatalf("header type %d, want %d", b[0], s.msg.Type())
			}
			// Through a Reader.
			r := NewReader(bytes.NewReader(b), DefaultLimits())
			got, err := r.Next()
			if err != nil {
				t.Fatalf("Next: %v", err)
			}
			if !reflect.DeepEqual(got, s.msg) {
				t.Fatalf("Next = %+v, want %+v", got, s.msg)
			}
			if _, err := r.Next(); err != io.EOF {
				t.Fatalf("second Next: %v, want io.EOF", err)
			}
			// Through the body decoder.
			got, err = decodeBody(s.msg.Type(), b[HeaderLen:], new(Frame))
			if err != nil || !reflect.DeepEqual(got, s.msg) {
				t.Fatalf("decode = %+v, %v; want %+v", got, err, s.msg)
			}
		})
	}
}

func TestPreambleRoundTrip(t *testing.T) {
	b := AppendPreamble([]byte("x"))
	if string(b) != "xCAMS\x00\x01" {
		t.Fatalf("AppendPreamble = %q", b)
	}
	v, err := ParsePreamble(b[1:])
	if v != Version || err != nil {
		t.Fatalf("ParsePreamble = %d, %v", v, err)
	}
}

func TestPutFrameHeader(t *testing.T) {
	h := FrameHeader{Seq: 7, Captured: -1, Codec: CodecJPEG, Width: 320, Height: 240}
	buf := make([]byte, FrameOverhead+len(jpegStub))
	if err := PutFrameHeader(buf, h, len(jpegStub)); err != nil {
		t.Fatal(err)
	}
	copy(buf[FrameOverhead:], jpegStub)
	want, err := AppendFrame(nil, h, jpegStub)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf, want) {
		t.Fatalf("PutFrameHeader+copy = %x\nAppendFrame        = %x", buf, want)
	}
	if err := PutFrameHeader(buf[:FrameOverhead-1], h, 1); err == nil {
		t.Fatal("PutFrameHeader accepted a short dst")
	}
	if err := PutFrameHeader(buf, h, 0); !errors.Is(err, ErrMalformed) {
		t.Fatalf("PutFrameHeader with empty payload: %v, want ErrMalformed", err)
	}
	if err := PutFrameHeader(buf, h, 1<<32); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("PutFrameHeader with 4 GiB payload: %v, want ErrTooLarge", err)
	}
}

func TestAppendErrorKeepsDst(t *testing.T) {
	dst := []byte("prefix")
	bad := strings.Repeat("x", MaxReasonLen+1)
	check := func(name string, got []byte, err error) {
		if err == nil || string(got) != "prefix" {
			t.Errorf("%s: got %q, %v; want dst unchanged and an error", name, got, err)
		}
	}
	b, err := AppendHello(dst, Hello{Codec: CodecJPEG, Token: bad})
	check("Hello", b, err)
	b, err = AppendAccept(dst, Accept{Codec: CodecJPEG, Server: bad})
	check("Accept", b, err)
	b, err = AppendRefuse(dst, Refuse{Reason: bad})
	check("Refuse", b, err)
	b, err = AppendGoodbye(dst, Goodbye{Reason: bad})
	check("Goodbye", b, err)
	b, err = AppendFrame(dst, FrameHeader{Codec: CodecJPEG}, jpegStub)
	check("Frame", b, err)
}

func TestStrings(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{MsgHello.String(), "Hello"}, {MsgAccept.String(), "Accept"}, {MsgRefuse.String(), "Refuse"},
		{MsgFrame.String(), "Frame"}, {MsgHeartbeat.String(), "Heartbeat"}, {MsgGoodbye.String(), "Goodbye"},
		{MsgReady.String(), "Ready"},
		{MsgType(0).String(), "MsgType(0)"}, {MsgType(200).String(), "MsgType(200)"},
		{CodecJPEG.String(), "JPEG"}, {CodecBGR.String(), "BGR"}, {Codec(9).String(), "Codec(9)"},
		{RefuseBadHello.String(), "bad hello"}, {RefuseVersion.String(), "unsupported version"},
		{RefuseAuth.String(), "unauthorized"}, {RefuseFull.String(), "server full"},
		{RefuseCodec.String(), "unsupported codec"}, {RefuseCode(0).String(), "RefuseCode(0)"},
		{GoodbyeShutdown.String(), "server shutdown"}, {GoodbyeTimeout.String(), "timeout"},
		{GoodbyeSlow.String(), "client too slow"}, {GoodbyeClient.String(), "client leaving"},
		{GoodbyeCode(77).String(), "GoodbyeCode(77)"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("String() = %q, want %q", tt.got, tt.want)
		}
	}
}

func TestRefuseTemporary(t *testing.T) {
	for c := range 256 {
		if got, want := RefuseCode(c).Temporary(), RefuseCode(c) == RefuseFull; got != want {
			t.Errorf("%v.Temporary() = %v, want %v", RefuseCode(c), got, want)
		}
	}
}

func TestCodecValid(t *testing.T) {
	for c := range 256 {
		if got, want := Codec(c).Valid(), c == 1 || c == 2; got != want {
			t.Errorf("Codec(%d).Valid() = %v, want %v", c, got, want)
		}
	}
}

func TestErrorTypes(t *testing.T) {
	var ve error = &VersionError{Got: 9}
	var le error = &LimitError{Type: MsgFrame, Len: 10, Max: 5}
	var fe error = &FormatError{Type: MsgHello, Reason: "x"}
	if !errors.Is(ve, ErrVersion) || !errors.Is(le, ErrTooLarge) || !errors.Is(fe, ErrMalformed) {
		t.Fatal("typed errors do not match their sentinels")
	}
	if errors.Is(ve, ErrMalformed) || errors.Is(le, ErrMalformed) || errors.Is(fe, ErrTooLarge) {
		t.Fatal("typed errors match the wrong sentinel")
	}
	for _, err := range []error{ve, le, fe} {
		if !strings.HasPrefix(err.Error(), "wire: ") {
			t.Errorf("%q lacks the package prefix", err)
		}
	}
}
