package main

import (
	"strings"
	"testing"
	"time"
)

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
		check   func(config) bool
	}{
		{"defaults", nil, "", func(c config) bool {
			return c.Source == "/dev/video0" && c.Width == 1280 && c.Height == 720 && c.FPS == 30 && c.Quality == 80 &&
				c.ListenAddr == ":8485" && c.HTTPAddr == ":8080" && c.Token == "" && c.LogFormat == "text" &&
				c.WriteTimeout == 5*time.Second && c.Passthrough == "auto"
		}},
		{"test pattern unpaced", map[string]string{"CAPTURE_SOURCE": "testpattern", "CAPTURE_FPS": "0"}, "", func(c config) bool {
			return c.Source == "testpattern" && c.FPS == 0
		}},
		{"http off", map[string]string{"HTTP_ADDR": "off"}, "", func(c config) bool { return c.HTTPAddr == "off" }},
		{"empty means default", map[string]string{"CAPTURE_SOURCE": "", "HTTP_ADDR": ""}, "", func(c config) bool {
			return c.Source == "/dev/video0" && c.HTTPAddr == ":8080"
		}},
		{"http addr", map[string]string{"HTTP_ADDR": "8080"}, `HTTP_ADDR="8080": want host:port, e.g. :8080, or off`, nil},
		{"profiles off by default", nil, "", func(c config) bool { return c.PprofAddr == "off" }},
		{"profiles on loopback", map[string]string{"PPROF_ADDR": "127.0.0.1:6060"}, "", func(c config) bool {
			return c.PprofAddr == "127.0.0.1:6060"
		}},
		{"profiles addr", map[string]string{"PPROF_ADDR": "on"}, `PPROF_ADDR="on": want host:port, e.g. 127.0.0.1:6060, or off`, nil},
		{"fps", map[string]string{"CAPTURE_FPS": "300"}, `CAPTURE_FPS="300"`, nil},
		{"quality", map[string]string{"JPEG_QUALITY": "high"}, `JPEG_QUALITY="high": want an integer from 1 to 100`, nil},
		{"passthrough", map[string]string{"CAPTURE_PASSTHROUGH": "on"}, `CAPTURE_PASSTHROUGH="on": want one of auto, off`, nil},
		{"listen", map[string]string{"LISTEN_ADDR": "localhost"}, `LISTEN_ADDR="localhost"`, nil},
		{"tls half", map[string]string{"TLS_CERT_FILE": "c.pem"}, `TLS_KEY_FILE=""`, nil},
		{"level", map[string]string{"LOG_LEVEL": "verbose"}, `LOG_LEVEL="verbose": want one of debug, info, warn, error`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadConfig(tc.env)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Fatalf("config %+v", c)
			}
		})
	}
}
