package wire

import "unicode/utf8"

// Message is one of *Hello, *Accept, *Refuse, *Frame, *Heartbeat, *Goodbye, *Ready.
type Message interface{ Type() MsgType }

// Hello is the client's first message after its preamble.
type Hello struct {
	Codec   Codec  // codec the client wants
	Quality uint8  // requested quality (JPEG: 1–100); 0 = server's default
	Token   string // access token, at most MaxTokenLen bytes of UTF-8; "" = none
	Client  string // client name, at most MaxNameLen bytes of UTF-8; informational
}

// Accept is the server's answer to an acceptable Hello; frames follow.
type Accept struct {
	Codec           Codec  // codec of the frames that follow
	Quality         uint8  // effective quality (JPEG: 1–100); 0 = not applicable
	Width, Height   uint16 // nominal frame size; 0 = not known yet
	FPSMilli        uint32 // nominal frames per second × 1000; 0 = unpaced
	HeartbeatMillis uint32 // heartbeat interval in milliseconds; 0 = no heartbeats
	MaxPayload      uint32 // largest frame payload the server will send
	Server          string // server name, at most MaxNameLen bytes of UTF-8
}

// Refuse is the server's answer to an unacceptable Hello; the server then closes.
type Refuse struct {
	Code   RefuseCode // why; Code.Temporary tells whether to retry
	Reason string     // human-readable detail, at most MaxReasonLen bytes of UTF-8
}

// FrameHeader holds the fixed fields of a Frame.
type FrameHeader struct {
	Seq           uint64 // sequence number, incremented per captured frame
	Captured      int64  // capture time, Unix nanoseconds
	Codec         Codec  // payload encoding
	Flags         uint8  // FlagNoSignal; other bits are reserved (send 0, ignore)
	Width, Height uint16 // picture size, 1..MaxWidth × 1..MaxHeight
}

// Frame is one picture. When it comes from a Reader, the Frame and its
// Payload alias the Reader's buffers: they are valid until the next Reader.Next.
type Frame struct {
	FrameHeader
	Payload []byte // encoded picture; never empty
}

// Heartbeat keeps an idle connection alive.
type Heartbeat struct {
	Sent int64 // send time, Unix nanoseconds
}

// Goodbye announces that the sender is closing the connection.
type Goodbye struct {
	Code   GoodbyeCode // why
	Reason string      // human-readable detail, at most MaxReasonLen bytes of UTF-8
}

// Ready asks the server for one more frame. A client that sends one has
// switched its connection to pull mode: from then on the server sends a Frame
// only against a Ready it has not answered yet (see docs/PROTOCOL.md).
type Ready struct{}

// Type returns MsgHello.
func (*Hello) Type() MsgType { return MsgHello }

// Type returns MsgAccept.
func (*Accept) Type() MsgType { return MsgAccept }

// Type returns MsgRefuse.
func (*Refuse) Type() MsgType { return MsgRefuse }

// Type returns MsgFrame.
func (*Frame) Type() MsgType { return MsgFrame }

// Type returns MsgHeartbeat.
func (*Heartbeat) Type() MsgType { return MsgHeartbeat }

// Type returns MsgGoodbye.
func (*Goodbye) Type() MsgType { return MsgGoodbye }

// Type returns MsgReady.
func (*Ready) Type() MsgType { return MsgReady }

// The check methods hold the rules shared by encoders and decoders, so that
// everything one side can send the other side accepts, and vice versa.

func checkString(t MsgType, field, s string, max int) error {
	if len(s) > max {
		return formatErr(t, "%s is %d bytes, max %d", field, len(s), max)
	}
	if !utf8.ValidString(s) {
		return formatErr(t, "%s is not valid UTF-8", field)
	}
	return nil
}

func (h *Hello) check() error {
	if !h.Codec.Valid() {
		return formatErr(MsgHello, "unknown codec %d", h.Codec)
	}
	if err := checkString(MsgHello, "token", h.Token, MaxTokenLen); err != nil {
		return err
	}
	return checkString(MsgHello, "client name", h.Client, MaxNameLen)
}

func (a *Accept) check() error {
	if !a.Codec.Valid() {
		return formatErr(MsgAccept, "unknown codec %d", a.Codec)
	}
	if a.Width > MaxWidth || a.Height > MaxHeight {
		return formatErr(MsgAccept, "size %dx%d exceeds %dx%d", a.Width, a.Height, MaxWidth, MaxHeight)
	}
	return checkString(MsgAccept, "server name", a.Server, MaxNameLen)
}

func (r *Refuse) check() error {
	return checkString(MsgRefuse, "reason", r.Reason, MaxReasonLen)
}

func (g *Goodbye) check() error {
	return checkString(MsgGoodbye, "reason", g.Reason, MaxReasonLen)
}

// maxFrameBody is the largest body the uint32 length field can describe
// (a variable so that int(maxFrameBody) compiles on 32-bit platforms, where
// the limit cannot be reached anyway).
var maxFrameBody int64 = 1<<32 - 1

func (h *FrameHeader) check(payloadLen int) error {
	if !h.Codec.Valid() {
		return formatErr(MsgFrame, "unknown codec %d", h.Codec)
	}
	if h.Width < 1 || h.Width > MaxWidth || h.Height < 1 || h.Height > MaxHeight {
		return formatErr(MsgFrame, "size %dx%d outside 1x1..%dx%d", h.Width, h.Height, MaxWidth, MaxHeight)
	}
	if payloadLen <= 0 {
		return formatErr(MsgFrame, "empty payload")
	}
	if h.Codec == CodecBGR {
		if want := int(h.Width) * int(h.Height) * 3; payloadLen != want {
			return formatErr(MsgFrame, "BGR payload of %d bytes for %dx%d, want %d",
				payloadLen, h.Width, h.Height, want)
		}
	}
	if int64(payloadLen) > maxFrameBody-FrameHeaderLen {
		return &LimitError{Type: MsgFrame, Len: FrameHeaderLen + payloadLen, Max: int(maxFrameBody)}
	}
	return nil
}
