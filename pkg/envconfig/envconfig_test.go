package envconfig

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

type testConfig struct {
	Source  string        `env:"SRC" envDefault:"/dev/video0" help:"where frames come from"`
	FPS     int           `env:"FPS" envDefault:"30" min:"0" max:"240" help:"frame rate"`
	Format  string        `env:"FMT" envDefault:"text" oneof:"text|json" help:"log format"`
	Every   time.Duration `env:"EVERY" envDefault:"5s" min:"100ms" help:"interval"`
	Mirror  bool          `env:"MIRROR" envDefault:"false" help:"flip"`
	Quality float64       `env:"Q" envDefault:"0.5" min:"0" max:"1" help:"quality"`
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr []string // substrings, one per expected error
		check   func(*testing.T, testConfig)
	}{
		{name: "defaults", check: func(t *testing.T, c testConfig) {
			if c.Source != "/dev/video0" || c.FPS != 30 || c.Every != 5*time.Second || c.Format != "text" {
				t.Errorf("defaults not applied: %+v", c)
			}
		}},
		{name: "values", env: map[string]string{"FPS": "0", "FMT": "json", "EVERY": "1s", "MIRROR": "true"},
			check: func(t *testing.T, c testConfig) {
				if c.FPS != 0 || c.Format != "json" || c.Every != time.Second || !c.Mirror {
					t.Errorf("values not applied: %+v", c)
				}
			}},
		{name: "not a number", env: map[string]string{"FPS": "abc"},
			wantErr: []string{`invalid FPS="abc": want an integer from 0 to 240`}},
		{name: "out of range", env: map[string]string{"FPS": "500"},
			wantErr: []string{`invalid FPS="500": want an integer from 0 to 240`}},
		{name: "enum", env: map[string]string{"FMT": "xml"},
			wantErr: []string{`invalid FMT="xml": want one of text, json`}},
		{name: "bool", env: map[string]string{"MIRROR": "yes please"},
			wantErr: []string{`invalid MIRROR="yes please": want true or false`}},
		{name: "duration", env: map[string]string{"EVERY": "5"},
			wantErr: []string{`invalid EVERY="5": want a duration`}},
		{name: "duration too small", env: map[string]string{"EVERY": "1ms"},
			wantErr: []string{`invalid EVERY="1ms": want a duration (e.g. 500ms, 5s) >= 100ms`}},
		{name: "float", env: map[string]string{"Q": "2"},
			wantErr: []string{`invalid Q="2": want a number from 0 to 1`}},
		{name: "several", env: map[string]string{"FPS": "-1", "FMT": "yaml"},
			wantErr: []string{`FPS="-1"`, `FMT="yaml"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var c testConfig
			err := Load(&c, tc.env)
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				tc.check(t, c)
				return
			}
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("err = %v (%T), want Errors", err, err)
			}
			if len(errs) != len(tc.wantErr) {
				t.Fatalf("got %d errors (%v), want %d", len(errs), err, len(tc.wantErr))
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestUsage(t *testing.T) {
	var buf bytes.Buffer
	Usage(&buf, "prog", "does things", &testConfig{})
	out := buf.String()
	for _, want := range []string{"prog: does things", "SRC", "/dev/video0", "where frames come from", "FMT", "one of text, json", "an integer from 0 to 240"} {
		if !strings.Contains(out, want) {
			t.Errorf("usage lacks %q:\n%s", want, out)
		}
	}
}
