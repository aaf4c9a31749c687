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
			return c.ServerAddr == "localhost:8485" && c.Display == "auto" && c.Decode && c.StatsInterval == 5*time.Second &&
				!c.TLS && c.TLSServerName == "localhost" && c.Codec == "jpeg"
		}},
		{"ca implies tls", map[string]string{"TLS_CA_FILE": "/ca.pem", "SERVER_ADDR": "cam.example:8485"}, "", func(c config) bool {
			return c.TLS && c.TLSServerName == "cam.example"
		}},
		{"headless relay", map[string]string{"VIEWER_DISPLAY": "none", "VIEWER_DECODE": "false"}, "", func(c config) bool {
			return !c.Decode && c.Display == "none"
		}},
		{"display", map[string]string{"VIEWER_DISPLAY": "yes"}, `VIEWER_DISPLAY="yes": want one of auto, window, none`, nil},
		{"decode", map[string]string{"VIEWER_DECODE": "maybe"}, `VIEWER_DECODE="maybe": want true or false`, nil},
		{"profiles off by default", nil, "", func(c config) bool { return c.PprofAddr == "off" }},
		{"profiles addr", map[string]string{"PPROF_ADDR": "6061"}, `PPROF_ADDR="6061": want host:port, e.g. 127.0.0.1:6061, or off`, nil},
		{"interval", map[string]string{"STATS_INTERVAL": "0s"}, `STATS_INTERVAL="0s"`, nil},
		{"addr", map[string]string{"SERVER_ADDR": ":8485"}, `SERVER_ADDR=":8485"`, nil},
		{"record needs decode", map[string]string{"RECORD_PATH": "x.avi", "VIEWER_DECODE": "false"}, `VIEWER_DECODE="false"`, nil},
		{"codec", map[string]string{"VIEWER_CODEC": "png"}, `VIEWER_CODEC="png": want one of jpeg, bgr`, nil},
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
