package encode

import (
	"fmt"
	"time"

	"github.com/camstream/camstream/pkg/fanout"
	"github.com/camstream/camstream/pkg/wire"
)

// Format is one way of sending a frame: a codec and, for JPEG, a quality (1..100).
type Format struct {
	Codec   wire.Codec
	Quality int
}

func (f Format) String() string {
	if f.Codec == wire.CodecJPEG {
		return fmt.Sprintf("jpeg/q%d", f.Quality)
	}
	return f.Codec.String()
}

// Encoded is a frame in one Format.
type Encoded struct {
	Format Format
	// Msg is the complete wire Frame message (header and payload), ready to be written to a TCP viewer.
	Msg []byte
	// Payload is the encoded picture alone (a sub-slice of Msg): a JPEG, or raw BGR pixels.
	Payload []byte
}

// Frame is one published frame in every format in use when it was captured. It is immutable once published:
// viewers share its bytes and never change them.
type Frame struct {
	Seq      uint64
	Captured time.Time
	Width    int
	Height   int
	NoSignal bool
	// Passthrough is true when the JPEG is the source's own bytes, neither decoded nor encoded.
	Passthrough bool
	Encodings   []Encoded
}

// Get returns the frame's encoding in format f.
func (fr *Frame) Get(f Format) (Encoded, bool) {
	for _, e := range fr.Encodings {
		if e.Format == f {
			return e, true
		}
	}
	return Encoded{}, false
}

// Hub is the server's fan-out of encoded frames, keyed by the format each viewer wants.
type Hub = fanout.Hub[Format, *Frame]

// Sub is one viewer's subscription to the Hub.
type Sub = fanout.Sub[Format, *Frame]
