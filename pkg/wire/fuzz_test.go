package wire

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// checkDecoded holds the invariants shared by the body decoders: an error is
// a *FormatError with no message, and a decoded message re-encodes to
// exactly the input.
func checkDecoded[M Message](t *testing.T, typ MsgType, body []byte, m M, err error) {
	t.Helper()
	if err != nil {
		var fe *FormatError
		if !errors.As(err, &fe) || fe.Type != typ {
			t.Fatalf("error %v (%T) is not a *FormatError for %v", err, err, typ)
		}
		if Message(m) != Message(*new(M)) {
			t.Fatalf("decoder returned %+v with error %v", m, err)
		}
		return
	}
	got, err := appendMessage(nil, m)
	if err != nil {
		t.Fatalf("decoded %+v does not re-encode: %v", m, err)
	}
	if want := rawMessage(typ, body); !bytes.Equal(got, want) {
		t.Fatalf("round trip differs:\nin  %x\nout %x", want, got)
	}
}

func FuzzDecodeHello(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := DecodeHello(body)
		checkDecoded(t, MsgHello, body, m, err)
	})
}

func FuzzDecodeAccept(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := DecodeAccept(body)
		checkDecoded(t, MsgAccept, body, m, err)
	})
}

func FuzzDecodeRefuse(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := DecodeRefuse(body)
		checkDecoded(t, MsgRefuse, body, m, err)
	})
}

func FuzzDecodeFrame(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := DecodeFrame(body)
		checkDecoded(t, MsgFrame, body, m, err)
		if err == nil && &m.Payload[0] != &body[FrameHeaderLen] {
			t.Fatal("Payload does not alias body")
		}
	})
}

func FuzzDecodeHeartbeat(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := DecodeHeartbeat(body)
		checkDecoded(t, MsgHeartbeat, body, m, err)
	})
}

func FuzzDecodeGoodbye(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := DecodeGoodbye(body)
		checkDecoded(t, MsgGoodbye, body, m, err)
	})
}

func FuzzDecodeReady(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := DecodeReady(body)
		checkDecoded(t, MsgReady, body, m, err)
	})
}

func FuzzParsePreamble(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := ParsePreamble(b)
		switch {
		case err == nil:
			if !bytes.Equal(b, AppendPreamble(nil)) || v != Version {
				t.Fatalf("ParsePreamble(%x) = %d, nil", b, v)
			}
		case errors.Is(err, ErrVersion):
			var ve *VersionError
			if !errors.As(err, &ve) || ve.Got != v || v == Version || string(b[:4]) != Magic ||
				!bytes.Equal(b[4:], []byte{byte(v >> 8), byte(v)}) {
				t.Fatalf("ParsePreamble(%x) = %d, %v", b, v, err)
			}
		case errors.Is(err, ErrBadMagic):
			if len(b) != PreambleLen || string(b[:4]) == Magic || v != 0 {
				t.Fatalf("ParsePreamble(%x) = %d, %v", b, v, err)
			}
		case errors.Is(err, ErrMalformed):
			if len(b) == PreambleLen || v != 0 {
				t.Fatalf("ParsePreamble(%x) = %d, %v", b, v, err)
			}
		default:
			t.Fatalf("ParsePreamble(%x): unexpected error %v", b, err)
		}
	})
}

// FuzzReader reads a whole stream: every error must belong to a documented
// class, and the messages read must re-encode to a prefix of the stream.
func FuzzReader(f *testing.F) {
	f.Fuzz(func(t *testing.T, stream []byte) {
		r := NewReader(bytes.NewReader(stream), Limits{MaxPayload: 1 << 16})
		_, err := r.ReadPreamble()
		out := AppendPreamble(nil)
		for err == nil {
			var m Message
			if m, err = r.Next(); err != nil {
				break
			}
			if m == nil {
				t.Fatal("Next returned a nil message and no error")
			}
			var reErr error
			if out, reErr = appendMessage(out, m); reErr != nil {
				t.Fatalf("decoded %+v does not re-encode: %v", m, reErr)
			}
			if !bytes.HasPrefix(stream, out) {
				t.Fatalf("re-encoded messages are not a prefix of the stream:\nin  %x\nout %x", stream, out)
			}
		}
		if err == io.EOF {
			if len(out) != len(stream) && len(stream) != 0 {
				t.Fatalf("io.EOF after %d of %d bytes", len(out), len(stream))
			}
			return
		}
		for _, class := range []error{io.ErrUnexpectedEOF, ErrBadMagic, ErrVersion, ErrUnknownType, ErrMalformed, ErrTooLarge} {
			if errors.Is(err, class) {
				return
			}
		}
		t.Fatalf("unexpected error class: %v", err)
	})
}

// fuzzSeeds returns the seed corpus of each fuzz target: testdata/fuzz/<target>/seed-<name>.
func fuzzSeeds(t *testing.T) map[string]map[string][]byte {
	body := func(name string) []byte {
		for _, s := range samples {
			if s.name == name {
				return mustEncode(t, s.msg)[HeaderLen:]
			}
		}
		panic(name)
	}
	enc := func(ms ...Message) []byte {
		b := AppendPreamble(nil)
		for _, m := range ms {
			b = append(b, mustEncode(t, m)...)
		}
		return b
	}
	var sample = map[string]Message{}
	for _, s := range samples {
		sample[s.name] = s.msg
	}
	long := strings.Repeat("x", MaxReasonLen)
	server := enc(sample["accept"], sample["frame_jpeg"], sample["frame_bgr_nosignal"], sample["heartbeat"],
		&Goodbye{Code: GoodbyeShutdown, Reason: "server stopping"})
	return map[string]map[string][]byte{
		"FuzzDecodeHello": {
			"hello": body("hello"), "minimal": body("hello_minimal"),
			"trailing": append(body("hello"), 0),
			"max": mustEncode(t, &Hello{Codec: CodecBGR, Quality: 100, Token: strings.Repeat("t", MaxTokenLen),
				Client: "ünïcödé"})[HeaderLen:],
		},
		"FuzzDecodeAccept": {
			"accept": body("accept"),
			"max": mustEncode(t, &Accept{Codec: CodecBGR, Width: MaxWidth, Height: MaxHeight, FPSMilli: 1<<32 - 1,
				HeartbeatMillis: 1, MaxPayload: 1<<32 - 1})[HeaderLen:],
		},
		"FuzzDecodeRefuse": {
			"refuse": body("refuse"), "unknown-code": {200, 0, 0},
			"long": mustEncode(t, &Refuse{Code: RefuseAuth, Reason: long})[HeaderLen:],
		},
		"FuzzDecodeFrame": {
			"jpeg": body("frame_jpeg"), "bgr": body("frame_bgr_nosignal"),
			"header-only": body("frame_jpeg")[:FrameHeaderLen],
		},
		"FuzzDecodeHeartbeat": {"heartbeat": body("heartbeat"), "short": body("heartbeat")[:7]},
		"FuzzDecodeReady":     {"ready": body("ready"), "one-byte": {0}},
		"FuzzDecodeGoodbye": {
			"goodbye": body("goodbye"), "empty-reason": {byte(GoodbyeSlow), 0, 0},
			"long": mustEncode(t, &Goodbye{Code: GoodbyeTimeout, Reason: long})[HeaderLen:],
		},
		"FuzzReader": {
			"client":     enc(sample["hello"], sample["ready"], sample["heartbeat"], sample["ready"], sample["goodbye"]),
			"server":     server,
			"refused":    enc(sample["refuse"]),
			"truncated":  server[:len(server)-3],
			"version-2":  append([]byte("CAMS\x00\x02"), mustEncode(t, &Refuse{Code: RefuseVersion, Reason: "want 2"})...),
			"bad-magic":  []byte("GET / HTTP/1.1\r\n\r\n"),
			"huge-claim": append(AppendPreamble(nil), appendHeader(nil, MsgFrame, 30_000_000)...),
			"unknown":    append(AppendPreamble(nil), rawMessage(9, []byte("?"))...),
		},
		"FuzzParsePreamble": {
			"ok": AppendPreamble(nil), "version-2": []byte("CAMS\x00\x02"),
			"bad-magic": []byte("GET / "), "short": []byte("CAMS"),
		},
	}
}

// TestFuzzSeeds checks (or, with -update, writes) the seed corpus files.
func TestFuzzSeeds(t *testing.T) {
	for target, seeds := range fuzzSeeds(t) {
		dir := filepath.Join("testdata", "fuzz", target)
		for name, data := range seeds {
			path := filepath.Join(dir, "seed-"+name)
			content := fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", data)
			if *update {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, content, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, content) {
				t.Errorf("%s is missing or stale (run with -update): %v", path, err)
			}
		}
	}
}
