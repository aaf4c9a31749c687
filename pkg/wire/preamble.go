package wire

import (
	"encoding/binary"
	"fmt"
)

// ParsePreamble parses a preamble of exactly PreambleLen bytes and returns the
// peer's version. A wrong magic yields an error wrapping ErrBadMagic; a version
// other than Version yields that version and a *VersionError.
func ParsePreamble(b []byte) (version uint16, err error) {
	if len(b) != PreambleLen {
		return 0, fmt.Errorf("%w: preamble is %d bytes, want %d", ErrMalformed, len(b), PreambleLen)
	}
	if string(b[:len(Magic)]) != Magic {
		return 0, fmt.Errorf("%w: got %q", ErrBadMagic, b[:len(Magic)])
	}
	version = binary.BigEndian.Uint16(b[len(Magic):])
	if version != Version {
		return version, &VersionError{Got: version}
	}
	return version, nil
}
