package main

import (
	"net"
	"time"

	"github.com/camstream/camstream/pkg/envconfig"
)

// config is every setting of the client; each comes from the environment variable in its env tag.
type config struct {
	ServerAddr    string        `env:"SERVER_ADDR" envDefault:"localhost:8485" help:"host:port of the camstream server"`
	Display       string        `env:"VIEWER_DISPLAY" envDefault:"auto" oneof:"auto|window|none" help:"window: show a window (fails without a display); auto: a window when a display is reachable, else headless; none: headless"`
	Decode        bool          `env:"VIEWER_DECODE" envDefault:"true" help:"decode frames; false lets a headless client only receive (relays, load tests)"`
	Codec         string        `env:"VIEWER_CODEC" envDefault:"jpeg" oneof:"jpeg|bgr" help:"format asked of the server: jpeg, or bgr for exact raw pixels"`
	Quality       int           `env:"VIEWER_QUALITY" envDefault:"0" min:"0" max:"100" help:"JPEG quality asked of the server (0 = the server's JPEG_QUALITY)"`
	Token         string        `env:"AUTH_TOKEN" help:"the server's shared secret, if it has one"`
	StatsInterval time.Duration `env:"STATS_INTERVAL" envDefault:"5s" min:"100ms" max:"24h" help:"how often a stats record is logged"`
	SnapshotDir   string        `env:"SNAPSHOT_DIR" help:"where the window's s key saves PNG snapshots (empty = working directory)"`
	RecordPath    string        `env:"RECORD_PATH" help:"record what is received to this video file (MJPG in AVI); empty = off"`
	TLS           bool          `env:"TLS" envDefault:"false" help:"connect over TLS (the server has TLS_CERT_FILE)"`
	TLSCAFile     string        `env:"TLS_CA_FILE" help:"PEM CA certificate(s) that sign the server's certificate, in addition to the system's; implies TLS"`
	TLSServerName string        `env:"TLS_SERVER_NAME" help:"name to verify in the server's certificate (default: SERVER_ADDR's host)"`
	LogFormat     string        `env:"LOG_FORMAT" envDefault:"text" oneof:"text|json" help:"log format"`
	LogLevel      string        `env:"LOG_LEVEL" envDefault:"info" oneof:"debug|info|warn|error" help:"least severe level logged"`
	PprofAddr     string        `env:"PPROF_ADDR" envDefault:"off" help:"serve Go's pprof profiles on this address, e.g. 127.0.0.1:6061 (they show internals: keep it on loopback); off = none"`
}

const summary = "camstream viewer: receives a camstream server's frames and shows them in a window or logs stats headless"

// loadConfig reads and validates the configuration from environ.
func loadConfig(environ map[string]string) (config, error) {
	var c config
	if err := envconfig.Load(&c, environ); err != nil {
		return c, err
	}
	host, _, err := net.SplitHostPort(c.ServerAddr)
	if err != nil || host == "" {
		return c, envconfig.Errors{envconfig.Invalid("SERVER_ADDR", c.ServerAddr, "host:port, e.g. localhost:8485")}
	}
	if _, _, err := net.SplitHostPort(c.PprofAddr); c.PprofAddr != "off" && err != nil {
		return c, envconfig.Errors{envconfig.Invalid("PPROF_ADDR", c.PprofAddr, "host:port, e.g. 127.0.0.1:6061, or off")}
	}
	if c.TLSCAFile != "" {
		c.TLS = true
	}
	if c.TLSServerName == "" {
		c.TLSServerName = host
	}
	if c.RecordPath != "" && !c.Decode {
		return c, envconfig.Errors{envconfig.Invalid("VIEWER_DECODE", "false", "true when RECORD_PATH is set (recording needs decoded frames)")}
	}
	return c, nil
}
