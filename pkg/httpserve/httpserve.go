// Package httpserve is the server's HTTP side: the MJPEG stream (/stream.mjpg) that browsers, VLC, ffmpeg and
// OpenCV open, a snapshot (/snapshot.jpg), a small web viewer (/), a JSON status (/api/status), health and
// readiness probes (/healthz, /readyz) and Prometheus metrics (/metrics).
//
// Every HTTP viewer has its own subscription to the capture hub, in the server's JPEG format, and is sent the
// shared JPEG bytes of each frame without a copy: a viewer that cannot keep up skips frames (and is dropped when a
// write does not complete within the write timeout) without slowing the capture or the other viewers.
//
// When a token is configured, every endpoint but /healthz and /readyz asks for it, as
// "Authorization: Bearer <token>" or "?token=<token>" (for <img> tags and players that cannot send headers).
package httpserve

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/camstream/camstream/pkg/auth"
	"github.com/camstream/camstream/pkg/encode"
	"github.com/camstream/camstream/pkg/listenaddr"
	"github.com/camstream/camstream/pkg/logonce"
	"github.com/camstream/camstream/pkg/metrics"
	"github.com/camstream/camstream/pkg/wire"
)

// Defaults and fixed limits.
const (
	// DefaultWriteTimeout is Config.WriteTimeout when it is zero.
	DefaultWriteTimeout = 5 * time.Second
	// DefaultJPEGQuality is the quality of Config.JPEG when it is the zero Format.
	DefaultJPEGQuality = 80
	// ReadyMaxAge is how recent the source's last real frame must be for /readyz to answer 200.
	ReadyMaxAge = 3 * time.Second
	// SnapshotWait is how long /snapshot.jpg waits for a frame in the JPEG format before answering 503.
	SnapshotWait = 3 * time.Second
	// ShutdownGrace is how long Serve waits, once its context is done, for requests to finish before it closes
	// the remaining connections.
	ShutdownGrace = time.Second
	// ProbeTimeout bounds Probe.
	ProbeTimeout = 2 * time.Second
)

// SourceStatus is what the server knows about its video source (the capture supervisor's status).
type SourceStatus struct {
	State     string    // "starting", "live" or "no signal"
	Live      bool      // the source delivers frames
	Source    string    // description of the source, without credentials
	Since     time.Time // when State began
	LastFrame time.Time // when the source last delivered a real frame (NO SIGNAL cards excluded); zero: never
	// Passthrough is true when the source's own JPEG is served without decoding and re-encoding.
	Passthrough bool
	LastError   string // optional: why the source went down last
}

// Config configures a Server.
type Config struct {
	Addr string      // listen address for Run, e.g. ":8080" (HTTP_ADDR)
	TLS  *tls.Config // nil = plain HTTP; with TLS, HTTP/2 is offered too
	Hub  *encode.Hub // required
	// JPEG is the server's JPEG format (JPEG_QUALITY); the zero Format means JPEG at DefaultJPEGQuality.
	JPEG  encode.Format
	Token auth.Token // empty = no authentication
	// Status reports the source; nil derives it from the hub's latest frame (no real frame within ReadyMaxAge
	// or a NO SIGNAL frame: not live).
	Status  func() SourceStatus
	Metrics *metrics.Metrics // nil = a private set
	// MaxViewers bounds the /stream.mjpg viewers at once (0 = no limit); over it a viewer gets 503.
	MaxViewers int
	// WriteTimeout bounds the write of one frame (0 = DefaultWriteTimeout); a viewer that does not take a frame
	// within it is dropped.
	WriteTimeout time.Duration
	Version      string // shown by /api/status; "" = metrics.Version()
	Log          *slog.Logger

	snapshotWait time.Duration // tests: SnapshotWait when zero
}

// Server serves the HTTP endpoints. Build it with New.
type Server struct {
	cfg     Config
	log     *slog.Logger
	handler http.Handler
	started time.Time

	limits  *logonce.Limiter // refusals: logged once per reason and address per minute
	viewers atomic.Int64     // /stream.mjpg viewers now, for MaxViewers
	fps     fpsMeter
	figures *prometheus.Registry // the metrics /api/status shows, gathered without the Go and process collectors
}

// New returns a Server for cfg, with defaults filled in. It panics when cfg.Hub is nil.
func New(cfg Config) *Server {
	if cfg.Hub == nil {
		panic("httpserve: Config.Hub is nil")
	}
	if cfg.JPEG == (encode.Format{}) {
		cfg.JPEG = encode.Format{Codec: wire.CodecJPEG, Quality: DefaultJPEGQuality}
	}
	if cfg.Version == "" {
		cfg.Version = metrics.Version()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.New(cfg.Version)
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.snapshotWait <= 0 {
		cfg.snapshotWait = SnapshotWait
	}
	s := &Server{cfg: cfg, log: cfg.Log, started: time.Now(), limits: logonce.New(time.Minute)}
	m := cfg.Metrics
	m.Viewers.WithLabelValues(metrics.TransportHTTP) // show http viewers as 0 before the first one
	s.figures = prometheus.NewRegistry()
	for _, c := range []prometheus.Collector{m.Viewers, m.FramesSent, m.FramesDropped, m.BytesSent} {
		s.figures.MustRegister(c)
	}
	s.handler = s.routes()
	return s
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	// "GET" patterns also match HEAD; other methods get 405 with an Allow header, unknown paths 404.
	mux.Handle("GET /{$}", s.requireToken(http.HandlerFunc(s.serveIndex)))
	mux.Handle("GET /stream.mjpg", s.requireToken(http.HandlerFunc(s.serveStream)))
	mux.Handle("GET /snapshot.jpg", s.requireToken(http.HandlerFunc(s.serveSnapshot)))
	mux.Handle("GET /api/status", s.requireToken(http.HandlerFunc(s.serveStatus)))
	mux.Handle("GET /metrics", s.requireToken(promhttp.HandlerFor(s.cfg.Metrics.Registry, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn), Registry: s.cfg.Metrics.Registry})))
	mux.HandleFunc("GET /healthz", s.serveHealth)
	mux.HandleFunc("GET /readyz", s.serveReady)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		mux.ServeHTTP(w, r)
	})
}

// Handler returns the server's endpoints, for use with any http.Server (Serve uses it).
func (s *Server) Handler() http.Handler { return s.handler }

// Run listens on Config.Addr and serves until ctx is done (see Serve).
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("http: listen on %s: %w", s.cfg.Addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln (with TLS when Config.TLS is set) until ctx is done, then stops: open streams end at
// once, other requests get ShutdownGrace to finish, and the connections left are closed. It closes ln, and
// returns nil after a shutdown caused by ctx, or the error that stopped it.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	base, stop := context.WithCancelCause(context.WithoutCancel(ctx))
	defer stop(nil)
	srv := &http.Server{
		Handler: s.handler,
		// A copy: ServeTLS adds HTTP/2 to the config's NextProtos, and the caller may share it (with the stream
		// server, whose handshakes read it meanwhile).
		TLSConfig:         s.cfg.TLS.Clone(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          log.New(serverErrorLog{s.log}, "", 0),
		// Requests' contexts end at shutdown, so streams stop instead of holding Shutdown up.
		BaseContext: func(net.Listener) context.Context { return base },
	}
	errc := make(chan error, 1)
	go func() {
		if s.cfg.TLS != nil {
			errc <- srv.ServeTLS(ln, "", "") // certificates come from TLSConfig
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	go s.sampleFPS(base)
	scheme := "http"
	if s.cfg.TLS != nil {
		scheme = "https"
	}
	urls := listenaddr.Reachable(ln.Addr())
	for i, a := range urls {
		urls[i] = scheme + "://" + a + "/"
	}
	s.log.Info("http: serving", "addr", ln.Addr().String(), "tls", s.cfg.TLS != nil, "auth", s.cfg.Token.Enabled(),
		"web_viewer", strings.Join(urls, " "))

	select {
	case err := <-errc:
		return fmt.Errorf("http: serve on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	stop(errStopping)
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		// Mostly idle HTTP/2 connections, which get a second to close after their GOAWAY.
		s.log.Debug("http: closing the connections still open after the shutdown grace", "grace", ShutdownGrace)
		srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http: serve on %s: %w", ln.Addr(), err)
	}
	s.log.Info("http: stopped")
	return nil
}

// errStopping is the cause of the end of every request's context when Serve stops.
var errStopping = errors.New("http server stopping")

// serverErrorLog sends net/http's own log lines to slog: TLS handshake failures (scanners, browsers refusing a
// self-signed certificate) at debug level, anything else (a panic in a handler…) as a warning.
type serverErrorLog struct{ log *slog.Logger }

func (e serverErrorLog) Write(p []byte) (int, error) {
	msg := strings.TrimSpace(string(p))
	level := slog.LevelWarn
	if strings.Contains(msg, "TLS handshake error") {
		level = slog.LevelDebug
	}
	e.log.Log(context.Background(), level, "http: server", "err", msg)
	return len(p), nil
}

// serveHealth answers 200 while the process serves HTTP (liveness). It needs no token.
func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	noStore(w.Header())
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, "ok\n")
}

// Probe asks the server listening on addr (HTTP_ADDR) for /healthz, within ProbeTimeout, and returns nil on 200.
// It is what `server -healthcheck` runs inside the container. An empty or unspecified host (":8080",
// "0.0.0.0:8080", "[::]:8080") is asked on 127.0.0.1; with useTLS the certificate is not verified (it is this
// very server, reached by IP). Proxy settings from the environment are ignored.
func Probe(addr string, useTLS bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("healthcheck: HTTP address %q: %w", addr, err)
	}
	if port == "" || port == "0" {
		return fmt.Errorf("healthcheck: HTTP address %q has no fixed port", addr)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	scheme := "http"
	if useTLS {
		scheme = "https"
	}
	url := scheme + "://" + net.JoinHostPort(host, port) + "/healthz"
	client := &http.Client{
		Timeout: ProbeTimeout,
		Transport: &http.Transport{
			Proxy:             nil,
			DisableKeepAlives: true,
			// #nosec G402 -- the probe asks its own process by IP; the certificate is for the public name.
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12},
		},
	}
	resp, err := client.Get(url)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %s", url, resp.Status)
	}
	return nil
}

// noStore tells browsers and proxies not to keep a response.
func noStore(h http.Header) {
	h.Set("Cache-Control", "no-store, no-cache, must-revalidate, max-age=0")
	h.Set("Pragma", "no-cache")
	h.Set("Expires", "0")
}

// textError answers code with a one-line plain-text message.
func textError(w http.ResponseWriter, code int, msg string) {
	h := w.Header()
	noStore(h)
	h.Del("Content-Length")
	h.Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	io.WriteString(w, msg+"\n")
}
