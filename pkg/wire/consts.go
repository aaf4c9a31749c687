package wire

import "strconv"

// Magic opens every preamble. A peer whose first four bytes differ is not
// speaking this protocol.
const Magic = "CAMS"

// Version is the protocol version implemented by this package.
const Version uint16 = 1

// Fixed sizes of the framing structures, in bytes.
const (
	// PreambleLen is the size of a preamble: Magic then a uint16 version.
	PreambleLen = 6
	// HeaderLen is the size of a message header: type uint8, body length uint32.
	HeaderLen = 5
	// FrameHeaderLen is the size of the fixed fields at the start of a Frame body.
	FrameHeaderLen = 22
	// FrameOverhead = HeaderLen + FrameHeaderLen: bytes before a frame's payload in its message.
	FrameOverhead = HeaderLen + FrameHeaderLen
)

// MaxWidth and MaxHeight bound the dimensions of a frame (8K UHD).
const MaxWidth, MaxHeight = 7680, 4320

// Size limits of control messages and their variable-length fields, in bytes.
const (
	// MaxControlBody is the largest body accepted for any message but Frame.
	MaxControlBody = 4096
	// MaxTokenLen is the longest Hello token.
	MaxTokenLen = 256
	// MaxNameLen is the longest client or server name.
	MaxNameLen = 64
	// MaxReasonLen is the longest Refuse or Goodbye reason.
	MaxReasonLen = 1024
)

// MsgType identifies a message; it is the first byte of the message header.
type MsgType uint8

// Message types.
const (
	MsgHello     MsgType = 1 // client → server: first message of a connection
	MsgAccept    MsgType = 2 // server → client: the Hello was accepted
	MsgRefuse    MsgType = 3 // server → client: the Hello was refused; the server closes
	MsgFrame     MsgType = 4 // server → client: one picture
	MsgHeartbeat MsgType = 5 // both ways: keep-alive
	MsgGoodbye   MsgType = 6 // both ways: the sender is closing the connection
	MsgReady     MsgType = 7 // client → server: send me one more frame (flow control)
)

var msgTypeNames = [...]string{
	MsgHello: "Hello", MsgAccept: "Accept", MsgRefuse: "Refuse",
	MsgFrame: "Frame", MsgHeartbeat: "Heartbeat", MsgGoodbye: "Goodbye", MsgReady: "Ready",
}

// String returns the message type's name, or "MsgType(n)" if it is unknown.
func (t MsgType) String() string {
	if int(t) < len(msgTypeNames) && msgTypeNames[t] != "" {
		return msgTypeNames[t]
	}
	return "MsgType(" + strconv.Itoa(int(t)) + ")"
}

func (t MsgType) known() bool { return t >= MsgHello && t <= MsgReady }

// Codec identifies the encoding of a frame payload.
type Codec uint8

// Codecs.
const (
	// CodecJPEG is a baseline JPEG (JFIF) image.
	CodecJPEG Codec = 1
	// CodecBGR is raw 8-bit BGR: width*height*3 bytes, row-major, no padding.
	CodecBGR Codec = 2
)

// Valid reports whether c is a codec defined by this protocol version.
func (c Codec) Valid() bool { return c == CodecJPEG || c == CodecBGR }

// String returns "JPEG", "BGR" or "Codec(n)".
func (c Codec) String() string {
	switch c {
	case CodecJPEG:
		return "JPEG"
	case CodecBGR:
		return "BGR"
	}
	return "Codec(" + strconv.Itoa(int(c)) + ")"
}

// FlagNoSignal marks a frame that is the server's NO SIGNAL card rather than
// a camera picture (FrameHeader.Flags bit 0).
const FlagNoSignal uint8 = 1

// RefuseCode says why a server refused a client.
type RefuseCode uint8

// Refuse codes.
const (
	RefuseBadHello RefuseCode = 1 // the first message was not a well-formed Hello
	RefuseVersion  RefuseCode = 2 // the client's protocol version is not supported
	RefuseAuth     RefuseCode = 3 // missing or wrong token
	RefuseFull     RefuseCode = 4 // too many viewers; retry later
	RefuseCodec    RefuseCode = 5 // the requested codec is not available
)

var refuseNames = [...]string{
	RefuseBadHello: "bad hello", RefuseVersion: "unsupported version",
	RefuseAuth: "unauthorized", RefuseFull: "server full", RefuseCodec: "unsupported codec",
}

// String returns a short human-readable description of the code.
func (c RefuseCode) String() string {
	if int(c) < len(refuseNames) && refuseNames[c] != "" {
		return refuseNames[c]
	}
	return "RefuseCode(" + strconv.Itoa(int(c)) + ")"
}

// Temporary reports whether the client may usefully retry later. Only
// RefuseFull is temporary; every other code, known or not, is permanent.
func (c RefuseCode) Temporary() bool { return c == RefuseFull }

// GoodbyeCode says why a peer is closing the connection.
type GoodbyeCode uint8

// Goodbye codes.
const (
	GoodbyeShutdown GoodbyeCode = 1 // the server is shutting down
	GoodbyeTimeout  GoodbyeCode = 2 // nothing was heard from the peer in time
	GoodbyeSlow     GoodbyeCode = 3 // the client could not keep up (a write timed out)
	GoodbyeClient   GoodbyeCode = 4 // the client is leaving
)

var goodbyeNames = [...]string{
	GoodbyeShutdown: "server shutdown", GoodbyeTimeout: "timeout",
	GoodbyeSlow: "client too slow", GoodbyeClient: "client leaving",
}

// String returns a short human-readable description of the code.
func (c GoodbyeCode) String() string {
	if int(c) < len(goodbyeNames) && goodbyeNames[c] != "" {
		return goodbyeNames[c]
	}
	return "GoodbyeCode(" + strconv.Itoa(int(c)) + ")"
}
