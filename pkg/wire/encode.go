package wire

import (
	"encoding/binary"
	"fmt"
	"slices"
)

// The Append functions append one complete message (header and body) to dst
// and return the extended slice. If a field breaks a limit they return dst
// unchanged and a *FormatError, so nothing the peer would reject is sent.

// AppendPreamble appends the preamble: Magic and Version.
func AppendPreamble(dst []byte) []byte {
	dst = append(dst, Magic...)
	return binary.BigEndian.AppendUint16(dst, Version)
}

func appendHeader(dst []byte, t MsgType, bodyLen int) []byte {
	dst = append(dst, byte(t))
	return binary.BigEndian.AppendUint32(dst, uint32(bodyLen))
}

func appendStr8(dst []byte, s string) []byte {
	return append(append(dst, uint8(len(s))), s...)
}

func appendStr16(dst []byte, s string) []byte {
	return append(binary.BigEndian.AppendUint16(dst, uint16(len(s))), s...)
}

// AppendHello appends a Hello message.
func AppendHello(dst []byte, h Hello) ([]byte, error) {
	if err := h.check(); err != nil {
		return dst, err
	}
	dst = appendHeader(dst, MsgHello, 2+2+len(h.Token)+1+len(h.Client))
	dst = append(dst, byte(h.Codec), h.Quality)
	dst = appendStr16(dst, h.Token)
	return appendStr8(dst, h.Client), nil
}

// AppendAccept appends an Accept message.
func AppendAccept(dst []byte, a Accept) ([]byte, error) {
	if err := a.check(); err != nil {
		return dst, err
	}
	dst = appendHeader(dst, MsgAccept, acceptFixedLen+1+len(a.Server))
	dst = append(dst, byte(a.Codec), a.Quality)
	dst = binary.BigEndian.AppendUint16(dst, a.Width)
	dst = binary.BigEndian.AppendUint16(dst, a.Height)
	dst = binary.BigEndian.AppendUint32(dst, a.FPSMilli)
	dst = binary.BigEndian.AppendUint32(dst, a.HeartbeatMillis)
	dst = binary.BigEndian.AppendUint32(dst, a.MaxPayload)
	return appendStr8(dst, a.Server), nil
}

// acceptFixedLen is the size of Accept's fixed fields (before the server name).
const acceptFixedLen = 1 + 1 + 2 + 2 + 4 + 4 + 4

// AppendRefuse appends a Refuse message.
func AppendRefuse(dst []byte, r Refuse) ([]byte, error) {
	if err := r.check(); err != nil {
		return dst, err
	}
	dst = appendHeader(dst, MsgRefuse, 1+2+len(r.Reason))
	return appendStr16(append(dst, byte(r.Code)), r.Reason), nil
}

// AppendHeartbeat appends a Heartbeat message.
func AppendHeartbeat(dst []byte, h Heartbeat) []byte {
	dst = appendHeader(dst, MsgHeartbeat, 8)
	return binary.BigEndian.AppendUint64(dst, uint64(h.Sent))
}

// AppendReady appends a Ready message (a header with an empty body).
func AppendReady(dst []byte) []byte { return appendHeader(dst, MsgReady, 0) }

// AppendGoodbye appends a Goodbye message.
func AppendGoodbye(dst []byte, g Goodbye) ([]byte, error) {
	if err := g.check(); err != nil {
		return dst, err
	}
	dst = appendHeader(dst, MsgGoodbye, 1+2+len(g.Reason))
	return appendStr16(append(dst, byte(g.Code)), g.Reason), nil
}

// PutFrameHeader writes the message header and frame header for a payload of
// payloadLen bytes into dst[:FrameOverhead] (dst must be at least
// FrameOverhead long), so a server can allocate one buffer, copy the encoded
// picture in after the header and send the whole message with one write.
// It validates h and payloadLen as the receiver will (see FrameHeader).
func PutFrameHeader(dst []byte, h FrameHeader, payloadLen int) error {
	if len(dst) < FrameOverhead {
		return fmt.Errorf("wire: PutFrameHeader: dst is %d bytes, need %d", len(dst), FrameOverhead)
	}
	if err := h.check(payloadLen); err != nil {
		return err
	}
	dst[0] = byte(MsgFrame)
	binary.BigEndian.PutUint32(dst[1:5], uint32(FrameHeaderLen+payloadLen))
	binary.BigEndian.PutUint64(dst[5:13], h.Seq)
	binary.BigEndian.PutUint64(dst[13:21], uint64(h.Captured))
	dst[21] = byte(h.Codec)
	dst[22] = h.Flags
	binary.BigEndian.PutUint16(dst[23:25], h.Width)
	binary.BigEndian.PutUint16(dst[25:27], h.Height)
	return nil
}

// AppendFrame appends a Frame message carrying payload. Servers sending one
// frame to many viewers should build it once (AppendFrame or PutFrameHeader)
// and write the same bytes to every connection.
func AppendFrame(dst []byte, h FrameHeader, payload []byte) ([]byte, error) {
	if err := h.check(len(payload)); err != nil {
		return dst, err
	}
	n := len(dst)
	dst = slices.Grow(dst, FrameOverhead+len(payload))[:n+FrameOverhead]
	if err := PutFrameHeader(dst[n:], h, len(payload)); err != nil {
		return dst[:n], err // unreachable: h was checked above
	}
	return append(dst, payload...), nil
}
