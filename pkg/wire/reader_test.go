package wire

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"runtime"
	"slices"
	"testing"
)

func TestReaderSession(t *testing.T) {
	stream, _ := sampleStream(t)
	r := NewReader(bytes.NewReader(stream), DefaultLimits())
	if v, err := r.ReadPreamble(); v != Version || err != nil {
		t.Fatalf("ReadPreamble = %d, %v", v, err)
	}
	for _, s := range samples {
		m, err := r.Next()
		if err != nil {
			t.Fatalf("Next (%s): %v", s.name, err)
		}
		if !reflect.DeepEqual(m, s.msg) {
			t.Fatalf("Next = %+v, want %+v", m, s.msg)
		}
	}
	if m, err := r.Next(); m != nil || err != io.EOF {
		t.Fatalf("Next at end = %v, %v; want nil, io.EOF", m, err)
	}
}

// TestReaderTruncated cuts a session stream at every byte position: the
// Reader must return the whole messages before the cut, then io.EOF if the
// cut falls between messages and io.ErrUnexpectedEOF otherwise.
func TestReaderTruncated(t *testing.T) {
	stream, ends := sampleStream(t)
	for cut := range len(stream) {
		r := NewReader(bytes.NewReader(stream[:cut]), DefaultLimits())
		whole := 0 // messages wholly inside the cut, preamble included
		for whole < len(ends) && ends[whole] <= cut {
			whole++
		}
		wantEOF := cut == 0 || slices.Contains(ends, cut)
		_, err := r.ReadPreamble()
		got := 0
		for err == nil {
			got++
			_, err = r.Next()
		}
		if got != whole {
			t.Errorf("cut %d: read %d items, want %d", cut, got, whole)
		}
		if wantEOF && err != io.EOF {
			t.Errorf("cut %d: %v, want io.EOF", cut, err)
		}
		if !wantEOF && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("cut %d: %v, want io.ErrUnexpectedEOF", cut, err)
		}
	}
}

func TestReaderErrors(t *testing.T) {
	pre := string(AppendPreamble(nil))
	hdr := func(typ MsgType, n int) string { return string(appendHeader(nil, typ, n)) }
	frameBody := func(payload int) string {
		f := mustEncode(t, &Frame{FrameHeader: FrameHeader{Codec: CodecJPEG, Width: 1, Height: 1},
			Payload: make([]byte, payload)})
		return string(f[HeaderLen:])
	}
	tests := []struct {
		name   string
		lim    Limits
		stream string
		want   error // sentinel the error must match
	}{
		{"bad magic", DefaultLimits(), "GET / HTTP/1.1\r\n", ErrBadMagic},
		{"pickle client", DefaultLimits(), "\x00\x00\x10\x00\x80\x04\x95", ErrBadMagic},
		{"version 2", DefaultLimits(), "CAMS\x00\x02" + hdr(MsgHello, 5), ErrVersion},
		{"short preamble", DefaultLimits(), "CAM", io.ErrUnexpectedEOF},
		{"unknown type 0", DefaultLimits(), pre + hdr(0, 0), ErrUnknownType},
		{"unknown type 8", DefaultLimits(), pre + hdr(8, 3) + "abc", ErrUnknownType},
		{"ready with a body", DefaultLimits(), pre + hdr(MsgReady, 3) + "abc", ErrMalformed},
		{"unknown type 255", DefaultLimits(), pre + hdr(255, 1<<31), ErrUnknownType},
		{"control body 4097", DefaultLimits(), pre + hdr(MsgGoodbye, MaxControlBody+1), ErrTooLarge},
		{"control body 4 GiB", DefaultLimits(), pre + hdr(MsgHello, 1<<32-1), ErrTooLarge},
		{"control body 4096 read then malformed", DefaultLimits(),
			pre + hdr(MsgHeartbeat, MaxControlBody) + string(make([]byte, MaxControlBody)), ErrMalformed},
		{"frame over limit", Limits{MaxPayload: 100}, pre + hdr(MsgFrame, FrameHeaderLen+101), ErrTooLarge},
		{"frame at limit", Limits{MaxPayload: 100}, pre + hdr(MsgFrame, FrameHeaderLen+100) + frameBody(100), io.EOF},
		{"frame over default limit", DefaultLimits(), pre + hdr(MsgFrame, FrameHeaderLen+MaxWidth*MaxHeight*3+1), ErrTooLarge},
		{"frame refused by server", Limits{}, pre + hdr(MsgFrame, FrameHeaderLen+1) + frameBody(1), ErrTooLarge},
		{"frame refused, negative limit", Limits{MaxPayload: -1}, pre + hdr(MsgFrame, FrameHeaderLen+1), ErrTooLarge},
		{"frame header cut", DefaultLimits(), pre + hdr(MsgFrame, 30) + "abc", io.ErrUnexpectedEOF},
		{"message header cut", DefaultLimits(), pre + "\x05\x00\x00", io.ErrUnexpectedEOF},
		{"body missing", DefaultLimits(), pre + hdr(MsgHeartbeat, 8), io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(bytes.NewReader([]byte(tt.stream)), tt.lim)
			_, err := r.ReadPreamble()
			for err == nil {
				_, err = r.Next()
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
			var le *LimitError
			if tt.want == ErrTooLarge && !errors.As(err, &le) {
				t.Fatalf("error %v is not a *LimitError", err)
			}
			t.Log(err)
		})
	}
}

func TestReaderSetLimits(t *testing.T) {
	b := mustEncode(t, samples[4].msg)
	stream := append(slices.Clone(b), b...)
	r := NewReader(bytes.NewReader(stream), Limits{})
	if _, err := r.Next(); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Next with Limits{}: %v, want ErrTooLarge", err)
	}
	r = NewReader(bytes.NewReader(stream), Limits{})
	r.SetLimits(Limits{MaxPayload: len(jpegStub)})
	if _, err := r.Next(); err != nil {
		t.Fatalf("Next after SetLimits: %v", err)
	}
	r.SetLimits(Limits{MaxPayload: len(jpegStub) - 1})
	if _, err := r.Next(); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Next after lowering the limit: %v, want ErrTooLarge", err)
	}
}

// TestReaderWrapsReadErrors checks that an io.Reader error is wrapped,
// not replaced, so callers can detect e.g. timeouts with errors.As.
func TestReaderWrapsReadErrors(t *testing.T) {
	boom := errors.New("boom")
	stream := append(AppendPreamble(nil), mustEncode(t, samples[0].msg)[:7]...)
	r := NewReader(io.MultiReader(bytes.NewReader(stream), iotestErrReader{boom}), DefaultLimits())
	if _, err := r.ReadPreamble(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); !errors.Is(err, boom) {
		t.Fatalf("Next: %v, want wrapped boom", err)
	}
}

type iotestErrReader struct{ err error }

func (r iotestErrReader) Read([]byte) (int, error) { return 0, r.err }

// allocated returns the bytes allocated by f.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestReaderHugeClaim: a peer announcing a 30 MB frame and sending 10 bytes
// must cost about one read chunk, not 30 MB.
func TestReaderHugeClaim(t *testing.T) {
	const claim = 30_000_000
	stream := append(appendHeader(nil, MsgFrame, claim), "0123456789"...)
	var err error
	n := allocated(func() {
		_, err = NewReader(bytes.NewReader(stream), DefaultLimits()).Next()
	})
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("Next: %v, want io.ErrUnexpectedEOF", err)
	}
	t.Logf("allocated %d bytes for a %d-byte claim: %v", n, claim, err)
	if n > 2<<20 {
		t.Fatalf("allocated %d bytes, want at most 2 MiB", n)
	}
}

// TestReaderGrowsWithData: memory follows the bytes that actually arrive.
func TestReaderGrowsWithData(t *testing.T) {
	const claim, sent = 30_000_000, 3 << 20
	stream := append(appendHeader(nil, MsgFrame, claim), make([]byte, sent)...)
	var err error
	n := allocated(func() {
		_, err = NewReader(bytes.NewReader(stream), DefaultLimits()).Next()
	})
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("Next: %v, want io.ErrUnexpectedEOF", err)
	}
	t.Logf("allocated %d bytes after receiving %d of %d", n, sent, claim)
	if n > 2*sent+(2<<20) {
		t.Fatalf("allocated %d bytes for %d received", n, sent)
	}
}

// TestReaderLargeFrame reads a frame bigger than several read chunks and
// checks the buffer grows correctly across them.
func TestReaderLargeFrame(t *testing.T) {
	payload := make([]byte, 1920*1080*3)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	f := &Frame{FrameHeader: FrameHeader{Seq: 1, Codec: CodecBGR, Width: 1920, Height: 1080}, Payload: payload}
	small := samples[4].msg.(*Frame)
	var stream []byte
	for _, m := range []*Frame{small, f, small, f} {
		stream = append(stream, mustEncode(t, m)...)
	}
	r := NewReader(bytes.NewReader(stream), DefaultLimits())
	for i, want := range []*Frame{small, f, small, f} {
		m, err := r.Next()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if got := m.(*Frame); got.FrameHeader != want.FrameHeader || !bytes.Equal(got.Payload, want.Payload) {
			t.Fatalf("frame %d differs", i)
		}
	}
}

// loopReader returns its bytes over and over.
type loopReader struct {
	b   []byte
	off int
}

func (l *loopReader) Read(p []byte) (int, error) {
	if l.off == len(l.b) {
		l.off = 0
	}
	n := copy(p, l.b[l.off:])
	l.off += n
	return n, nil
}

func frameStream(tb testing.TB, codec Codec, w, h uint16, payloadLen int) []byte {
	return mustEncode(tb, &Frame{FrameHeader: FrameHeader{Codec: codec, Width: w, Height: h},
		Payload: make([]byte, payloadLen)})
}

// TestReaderFrameAllocs: after warm-up, reading frames allocates nothing.
func TestReaderFrameAllocs(t *testing.T) {
	r := NewReader(&loopReader{b: frameStream(t, CodecJPEG, 640, 480, 50_000)}, DefaultLimits())
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := r.Next(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per frame, want 0", allocs)
	}
}

func BenchmarkReaderFrame(b *testing.B) {
	for _, bc := range []struct {
		name  string
		codec Codec
		w, h  uint16
		n     int
	}{
		{"JPEG-640x480-50KB", CodecJPEG, 640, 480, 50_000},
		{"BGR-640x480", CodecBGR, 640, 480, 640 * 480 * 3},
		{"BGR-1920x1080", CodecBGR, 1920, 1080, 1920 * 1080 * 3},
	} {
		b.Run(bc.name, func(b *testing.B) {
			stream := frameStream(b, bc.codec, bc.w, bc.h, bc.n)
			r := NewReader(&loopReader{b: stream}, DefaultLimits())
			if _, err := r.Next(); err != nil { // warm-up: sizes the body buffer
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(stream)))
			for b.Loop() {
				if _, err := r.Next(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAppendFrame(b *testing.B) {
	h := FrameHeader{Codec: CodecJPEG, Width: 640, Height: 480}
	payload := make([]byte, 50_000)
	buf := make([]byte, 0, FrameOverhead+len(payload))
	b.ReportAllocs()
	b.SetBytes(int64(cap(buf)))
	for b.Loop() {
		var err error
		if buf, err = AppendFrame(buf[:0], h, payload); err != nil {
			b.Fatal(err)
		}
	}
}
