package main

import (
	"net"
	"time"

	"github.com/camstream/camstream/pkg/envconfig"
)

// config is every setting of the server; each comes from the environment variable in its env tag.
type config struct {
	Source        string        `env:"CAPTURE_SOURCE" envDefault:"/dev/video0" help:"camera device path or index, video file, rtsp:// or http:// URL, or testpattern"`
	Width         int           `env:"CAPTURE_WIDTH" envDefault:"1280" min:"16" max:"7680" help:"width asked of the camera; size of the test pattern and NO SIGNAL card"`
	Height        int           `env:"CAPTURE_HEIGHT" envDefault:"720" min:"16" max:"4320" help:"height asked of the camera; size of the test pattern and NO SIGNAL card"`
	FPS           float64       `env:"CAPTURE_FPS" envDefault:"30" min:"0" max:"240" help:"frames per second at most; 0 = as fast as the source gives (files and the test pattern: as fast as viewers take them)"`
	ResizeWidth   int           `env:"CAPTURE_RESIZE_WIDTH" envDefault:"0" min:"0" max:"7680" help:"scale frames to this width, keeping the aspect ratio (0 = off)"`
	Mirror        bool          `env:"CAPTURE_MIRROR" envDefault:"false" help:"flip frames horizontally, like a mirror"`
	Passthrough   string        `env:"CAPTURE_PASSTHROUGH" envDefault:"auto" oneof:"auto|off" help:"auto: send a camera's or file's own JPEG untouched when no transform needs pixels; off: always decode and encode"`
	Quality       int           `env:"JPEG_QUALITY" envDefault:"80" min:"1" max:"100" help:"JPEG quality of encoded frames"`
	ListenAddr    string        `env:"LISTEN_ADDR" envDefault:":8485" help:"TCP address of the camstream protocol"`
	HTTPAddr      string        `env:"HTTP_ADDR" envDefault:":8080" help:"HTTP address (MJPEG, snapshot, web viewer, health, metrics); off = no HTTP"`
	Token         string        `env:"AUTH_TOKEN" help:"shared secret every viewer must present (empty = no authentication)"`
	TLSCert       string        `env:"TLS_CERT_FILE" help:"PEM certificate: serve both listeners over TLS (with TLS_KEY_FILE)"`
	TLSKey        string        `env:"TLS_KEY_FILE" help:"PEM private key of TLS_CERT_FILE"`
	MaxClients    int           `env:"MAX_CLIENTS" envDefault:"100" min:"1" max:"10000" help:"viewers at once, TCP and HTTP streams together; more are refused"`
	MaxPerAddr    int           `env:"MAX_CLIENTS_PER_ADDR" envDefault:"0" min:"0" max:"10000" help:"TCP viewers at once from one IP address (0 = no limit)"`
	WriteTimeout  time.Duration `env:"WRITE_TIMEOUT" envDefault:"5s" min:"100ms" max:"1m" help:"a viewer that cannot take a frame within this is dropped"`
	Heartbeat     time.Duration `env:"HEARTBEAT_INTERVAL" envDefault:"1s" min:"100ms" max:"30s" help:"heartbeat period; a peer silent for 3 periods is gone"`
	HandshakeWait time.Duration `env:"HANDSHAKE_TIMEOUT" envDefault:"5s" min:"100ms" max:"1m" help:"a connection must complete its hello within this"`
	Preview       bool          `env:"SERVER_PREVIEW" envDefault:"false" help:"also show the captured picture in a window on the server's display"`
	LogFormat     string        `env:"LOG_FORMAT" envDefault:"text" oneof:"text|json" help:"log format"`
	LogLevel      string        `env:"LOG_LEVEL" envDefault:"info" oneof:"debug|info|warn|error" help:"least severe level logged"`
	PprofAddr     string        `env:"PPROF_ADDR" envDefault:"off" help:"serve Go's pprof profiles on this address, e.g. 127.0.0.1:6060 (they show internals: keep it on loopback); off = none"`
}

const summary = "camstream capture server: reads a camera (or file, URL, test pattern) and serves it to any number of viewers"

// loadConfig reads and validates the configuration from environ.
func loadConfig(environ map[string]string) (config, error) {
	var c config
	if err := envconfig.Load(&c, environ); err != nil {
		return c, err
	}
	var errs envconfig.Errors
	if _, _, err := net.SplitHostPort(c.ListenAddr); err != nil {
		errs = append(errs, envconfig.Invalid("LISTEN_ADDR", c.ListenAddr, "host:port, e.g. :8485 or 127.0.0.1:8485"))
	}
	if _, _, err := net.SplitHostPort(c.HTTPAddr); c.HTTPAddr != "off" && err != nil {
		errs = append(errs, envconfig.Invalid("HTTP_ADDR", c.HTTPAddr, "host:port, e.g. :8080, or off"))
	}
	if _, _, err := net.SplitHostPort(c.PprofAddr); c.PprofAddr != "off" && err != nil {
		errs = append(errs, envconfig.Invalid("PPROF_ADDR", c.PprofAddr, "host:port, e.g. 127.0.0.1:6060, or off"))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, envconfig.Invalid("TLS_KEY_FILE", c.TLSKey, "set together with TLS_CERT_FILE (both or neither)"))
	}
	if len(errs) > 0 {
		return c, errs
	}
	return c, nil
}
