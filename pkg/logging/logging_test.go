package logging

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestNew(t *testing.T) {
	tests := []struct {
		format, level string
		wantErr       bool
		debugShown    bool
		json          bool
	}{
		{"text", "info", false, false, false},
		{"json", "debug", false, true, true},
		{"JSON", "warn", false, false, true},
		{"xml", "info", true, false, false},
		{"text", "loud", true, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.format+"/"+tc.level, func(t *testing.T) {
			var buf bytes.Buffer
			log, err := New(&buf, tc.format, tc.level)
			if tc.wantErr {
				if err == nil {
					t.Fatal("want error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			log.Debug("dbg")
			log.Warn("w", "k", 1)
			out := buf.String()
			if got := strings.Contains(out, "dbg"); got != tc.debugShown {
				t.Errorf("debug shown = %v, want %v: %s", got, tc.debugShown, out)
			}
			if tc.json {
				last := strings.TrimSpace(out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:])
				var m map[string]any
				if err := json.Unmarshal([]byte(last), &m); err != nil || m["msg"] != "w" {
					t.Errorf("not JSON lines: %q (%v)", out, err)
				}
			}
		})
	}
}
