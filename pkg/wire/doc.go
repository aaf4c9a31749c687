// Package wire implements the camstream protocol, which carries webcam
// frames from a capture server to viewer clients over TCP.
//
// It replaces the length-prefixed pickle stream of the original Python
// tutorial: every field has a fixed meaning and a bound, so a hostile peer
// can make a receiver neither run code nor allocate more than its limits.
// docs/PROTOCOL.md describes the same protocol for implementers in other
// languages, with an example session.
//
// # Encoding
//
// All integers are big-endian. A string is a length (uint8 or uint16, as
// noted) followed by that many bytes of UTF-8; strings have maximum lengths.
//
// # Session
//
// The client connects and sends its preamble and a Hello. The server reads
// the client's preamble: if the magic is wrong it closes the connection
// without a word (the peer is not speaking this protocol); otherwise it sends
// its own preamble, then an Accept or a Refuse. A version mismatch is refused
// with RefuseVersion, so the client can say why. After a Refuse the server
// closes. After an Accept the server sends Frames; both sides may send
// Heartbeats, and either side may send a Goodbye before it closes. A client
// that sends a Ready switches its connection to pull mode: the server then
// sends one Frame per Ready, the newest it has, so a client that decodes
// slower than the stream is never sent the frames it would skip.
//
//	client                              server
//	preamble, Hello          ──▶
//	                         ◀──        preamble, Accept | Refuse
//	                         ◀──        Frame, Frame, Heartbeat, ...
//	Heartbeat, Goodbye       ──▶
//
// # Preamble (6 bytes)
//
//	offset size field
//	0      4    magic   "CAMS"
//	4      2    version uint16, Version = 1
//
// # Messages
//
// Every message is a 5-byte header followed by its body:
//
//	offset size field
//	0      1    type        uint8, a MsgType
//	1      4    body length uint32
//	5      n    body
//
// Bodies, by type (the numbers are field sizes in bytes):
//
//	1 Hello     client → server
//	            1 codec, 1 quality (0 = server's default),
//	            2+n token (n ≤ 256), 1+n client name (n ≤ 64, informational)
//	2 Accept    server → client
//	            1 codec, 1 quality, 2 width, 2 height,
//	            4 fps_milli (frames per second × 1000, 0 = unpaced),
//	            4 heartbeat_ms, 4 max_payload, 1+n server name (n ≤ 64)
//	3 Refuse    server → client
//	            1 code, 2+n reason (n ≤ 1024)
//	4 Frame     server → client
//	            8 seq, 8 captured (Unix ns), 1 codec, 1 flags (bit 0 = NoSignal),
//	            2 width, 2 height, then the payload: the rest of the body
//	5 Heartbeat both ways
//	            8 sent (Unix ns)
//	6 Goodbye   both ways
//	            1 code, 2+n reason (n ≤ 1024)
//	7 Ready     client → server: one more frame, please (pull mode)
//	            empty
//
// Codecs are CodecJPEG (1) and CodecBGR (2, raw 8-bit BGR, width*height*3
// bytes, row-major, no padding).
//
// # Strictness
//
// A receiver checks a body length before reading the body: control bodies
// may not exceed MaxControlBody bytes, frame bodies FrameHeaderLen +
// Limits.MaxPayload. A body with bytes left after its fields is malformed
// (except Frame, whose payload is the rest of the body), as are unknown
// codecs, strings over their limit or not valid UTF-8, frame sizes outside
// 1..MaxWidth × 1..MaxHeight, empty frame payloads and BGR payloads whose
// length is not width*height*3. Unknown refuse and goodbye codes, and unknown
// frame flag bits, are accepted: a refuse with an unknown code is permanent.
// The encoders enforce the same rules, so everything they produce is
// accepted by the decoders.
//
// Errors wrap the sentinels ErrBadMagic, ErrVersion (*VersionError),
// ErrUnknownType, ErrMalformed (*FormatError) and ErrTooLarge (*LimitError),
// or io.EOF (the stream ended cleanly between messages) and
// io.ErrUnexpectedEOF (it ended inside one).
//
// # Sending frames to many viewers
//
// A frame is encoded once, with AppendFrame or PutFrameHeader, and the same
// bytes are written to every viewer.
package wire
