package auth

import (
	"fmt"
	"testing"
)

func TestAllows(t *testing.T) {
	tests := []struct {
		token, given string
		want         bool
	}{
		{"", "", true},
		{"", "anything", true},
		{"s3cret", "s3cret", true},
		{"s3cret", "", false},
		{"s3cret", "s3cre", false},
		{"s3cret", "s3cret!", false},
		{"s3cret", "S3cret", false},
	}
	for _, tc := range tests {
		if got := Token(tc.token).Allows(tc.given); got != tc.want {
			t.Errorf("Token(%q).Allows(%q) = %v, want %v", tc.token, tc.given, got, tc.want)
		}
	}
}

func TestNeverPrinted(t *testing.T) {
	tok := Token("s3cret")
	for _, s := range []string{fmt.Sprint(tok), fmt.Sprintf("%v %s", tok, tok), tok.LogValue()} {
		if s != "(set) (set)" && s != "(set)" {
			t.Errorf("token printed as %q", s)
		}
	}
}
