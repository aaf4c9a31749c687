// Package auth checks the shared AUTH_TOKEN that protects every stream, in constant time.
package auth

import "crypto/subtle"

// Token is the configured secret; the empty Token means authentication is off.
type Token string

// Enabled reports whether a token is required.
func (t Token) Enabled() bool { return t != "" }

// Allows reports whether given is acceptable: always when authentication is off, otherwise only when it equals the
// token. The comparison takes the same time wherever the first difference is.
func (t Token) Allows(given string) bool {
	if t == "" {
		return true
	}
	return subtle.ConstantTimeCompare([]byte(given), []byte(t)) == 1
}

// String hides the secret from logs and fmt.
func (t Token) String() string {
	if t == "" {
		return "(none)"
	}
	return "(set)"
}

// LogValue hides the secret from log/slog.
func (t Token) LogValue() string { return t.String() }
