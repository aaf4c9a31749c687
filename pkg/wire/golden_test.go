package wire

import (
	"bytes"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden and the fuzz seed corpora")

// Golden files hold one encoded message (header included) as hex, 16 bytes
// a line, after '#' comment lines naming the value.

func formatGolden(comment string, b []byte) []byte {
	var s strings.Builder
	fmt.Fprintf(&s, "# %s\n# Regenerate: go test ./pkg/wire -run TestGolden -update\n", comment)
	for len(b) > 0 {
		n := min(16, len(b))
		for i, c := range b[:n] {
			if i > 0 {
				s.WriteByte(' ')
			}
			fmt.Fprintf(&s, "%02x", c)
		}
		s.WriteByte('\n')
		b = b[n:]
	}
	return []byte(s.String())
}

func parseGolden(t *testing.T, text []byte) []byte {
	t.Helper()
	var hexDigits strings.Builder
	for line := range strings.Lines(string(text)) {
		if strings.HasPrefix(line, "#") {
			continue
		}
		hexDigits.WriteString(strings.Join(strings.Fields(line), ""))
	}
	b, err := hex.DecodeString(hexDigits.String())
	if err != nil {
		t.Fatalf("bad golden file: %v", err)
	}
	return b
}

// checkGolden compares got with testdata/name.golden, or rewrites the file
// with -update, and returns the golden bytes.
func checkGolden(t *testing.T, name, comment string, got []byte) []byte {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, formatGolden(comment, got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	want := parseGolden(t, text)
	if !bytes.Equal(got, want) {
		t.Errorf("%s: encoding changed\ngot  %x\nwant %x", path, got, want)
	}
	return want
}

func TestGolden(t *testing.T) {
	t.Run("preamble", func(t *testing.T) {
		want := checkGolden(t, "preamble", fmt.Sprintf("Preamble: %q version %d", Magic, Version), AppendPreamble(nil))
		if v, err := ParsePreamble(want); v != Version || err != nil {
			t.Fatalf("ParsePreamble(golden) = %d, %v", v, err)
		}
	})
	for _, s := range samples {
		t.Run(s.name, func(t *testing.T) {
			comment := fmt.Sprintf("%s %+v", s.msg.Type(), reflect.ValueOf(s.msg).Elem().Interface())
			if f, ok := s.msg.(*Frame); ok {
				comment = fmt.Sprintf("Frame %+v, payload %x", f.FrameHeader, f.Payload)
			}
			want := checkGolden(t, s.name, comment, mustEncode(t, s.msg))
			got, err := NewReader(bytes.NewReader(want), DefaultLimits()).Next()
			if err != nil {
				t.Fatalf("decoding golden: %v", err)
			}
			if !reflect.DeepEqual(got, s.msg) {
				t.Fatalf("decoding golden = %+v, want %+v", got, s.msg)
			}
		})
	}
}
