package wire

import (
	"errors"
	"fmt"
)

// Sentinel errors. Errors returned by this package wrap one of them (or
// io.EOF / io.ErrUnexpectedEOF, or an error of the underlying reader), so
// callers can classify them with errors.Is.
var (
	// ErrBadMagic: the peer's preamble does not start with Magic.
	ErrBadMagic = errors.New("wire: bad magic, peer is not speaking the camstream protocol")
	// ErrVersion: the peer speaks another protocol version (see VersionError).
	ErrVersion = errors.New("wire: unsupported protocol version")
	// ErrUnknownType: a message header carries an undefined type.
	ErrUnknownType = errors.New("wire: unknown message type")
	// ErrMalformed: a message breaks the format (see FormatError).
	ErrMalformed = errors.New("wire: malformed message")
	// ErrTooLarge: a message body exceeds a limit (see LimitError).
	ErrTooLarge = errors.New("wire: message too large")
)

// VersionError reports a preamble with a version other than Version.
// It matches ErrVersion with errors.Is.
type VersionError struct {
	Got uint16 // the peer's version
}

// Error describes the version mismatch.
func (e *VersionError) Error() string {
	return fmt.Sprintf("wire: peer speaks protocol version %d, want %d", e.Got, Version)
}

// Is reports whether target is ErrVersion.
func (e *VersionError) Is(target error) bool { return target == ErrVersion }

// LimitError reports a message whose body length exceeds what the receiver
// (or the uint32 length field) allows. It matches ErrTooLarge with errors.Is.
type LimitError struct {
	Type     MsgType // type from the message header
	Len, Max int     // declared body length and the limit it broke
}

// Error describes the oversized message.
func (e *LimitError) Error() string {
	if e.Type == MsgFrame && e.Max == 0 {
		return fmt.Sprintf("wire: Frame messages are not accepted here (body of %d bytes)", e.Len)
	}
	return fmt.Sprintf("wire: %s body of %d bytes exceeds limit of %d", e.Type, e.Len, e.Max)
}

// Is reports whether target is ErrTooLarge.
func (e *LimitError) Is(target error) bool { return target == ErrTooLarge }

// FormatError reports a message that breaks the format: a truncated or
// oversized field, trailing bytes, invalid UTF-8, an unknown codec, a bad
// dimension... Encoders return it for values that cannot be sent. It matches
// ErrMalformed with errors.Is.
type FormatError struct {
	Type   MsgType // the offending message's type
	Reason string  // what is wrong, e.g. "token is 300 bytes, max 256"
}

// Error describes the defect.
func (e *FormatError) Error() string {
	return fmt.Sprintf("wire: malformed %s: %s", e.Type, e.Reason)
}

// Is reports whether target is ErrMalformed.
func (e *FormatError) Is(target error) bool { return target == ErrMalformed }

func formatErr(t MsgType, format string, args ...any) error {
	return &FormatError{Type: t, Reason: fmt.Sprintf(format, args...)}
}
