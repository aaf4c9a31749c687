// Package streamserver serves the camstream TCP protocol (pkg/wire): it accepts viewers, checks their hello
// (version, token, format, limits), and gives each one a writer that sends the newest frame from the hub,
// skipping frames the viewer is too slow for, with heartbeats, deadlines and a goodbye on shutdown.
package streamserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/camstream/camstream/pkg/auth"
	"github.com/camstream/camstream/pkg/encode"
	"github.com/camstream/camstream/pkg/logonce"
	"github.com/camstream/camstream/pkg/metrics"
)

// Defaults for the timeouts in Config.
const (
	DefaultHandshakeTimeout = 5 * time.Second // a connection must complete its hello within this
	DefaultWriteTimeout     = 5 * time.Second // a frame that cannot be written within this drops the viewer
	DefaultHeartbeat        = 1 * time.Second // silence after which a heartbeat is sent
	DefaultMaxFormats       = 4               // formats encoded per frame at most: each costs a few ms of CPU per frame
	// peerSilenceFactor heartbeats without a byte from a viewer mean it is gone.
	peerSilenceFactor = 3
	// maxHandshaking connections may be waiting for their hello at once (each for at most HandshakeTimeout):
	// it bounds what a flood of silent connections costs (a goroutine and a socket each, ~40 MB at the limit).
	maxHandshaking = 4096
	// goodbyeTimeout bounds the goodbye written at shutdown, so a stuck viewer cannot delay the exit.
	goodbyeTimeout = 300 * time.Millisecond
)

// StreamInfo describes the stream for the Accept message.
type StreamInfo struct {
	Width, Height int
	FPSMilli      uint32
}

// Config configures a Server.
type Config struct {
	Addr             string
	TLS              *tls.Config // nil = plain TCP
	Hub              *encode.Hub
	JPEGQuality      int // quality of a viewer that asks for the server's default (0)
	Token            auth.Token
	MaxPerAddr       int // viewers from one remote IP at once; 0 = no limit
	MaxFormats       int // formats (codec and quality) encoded at once; more viewers get the default JPEG (default 4)
	HandshakeTimeout time.Duration
	WriteTimeout     time.Duration
	Heartbeat        time.Duration
	ServerName       string
	Info             func() StreamInfo // current stream parameters for Accept
	Metrics          *metrics.Metrics
	Log              *slog.Logger
}

// Server is a TCP stream server. Listen, then Serve.
type Server struct {
	cfg Config
	log *slog.Logger
	l   net.Listener

	mu          sync.Mutex
	perIP       map[string]int
	conns       sync.WaitGroup
	handshaking atomic.Int64     // connections accepted that have not finished their hello yet
	limits      *logonce.Limiter // limit hits: logged once per kind and address per minute
}

// New returns a Server for cfg, with defaults filled in.
func New(cfg Config) *Server {
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	if cfg.MaxFormats <= 0 {
		cfg.MaxFormats = DefaultMaxFormats
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = "camstream"
	}
	return &Server{cfg: cfg, log: cfg.Log, perIP: make(map[string]int), limits: logonce.New(time.Minute)}
}

// Listen binds the listening socket.
func (s *Server) Listen() error {
	l, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.Addr, err)
	}
	if s.cfg.TLS != nil {
		l = tls.NewListener(l, s.cfg.TLS)
	}
	s.l = l
	return nil
}

// Addr returns the bound address (after Listen).
func (s *Server) Addr() net.Addr { return s.l.Addr() }

// Serve accepts viewers until ctx is done, then says goodbye to every viewer and waits for their goroutines.
func (s *Server) Serve(ctx context.Context) error {
	if s.l == nil {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	stop := context.AfterFunc(ctx, func() { s.l.Close() })
	defer stop()
	var delay time.Duration
	for {
		c, err := s.l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				s.conns.Wait()
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, errTooManyFiles) {
				// Out of file descriptors or similar: back off instead of spinning.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				if s.limits.Allow("accept") {
					s.log.Warn("accept failing; backing off", "err", err)
				}
				time.Sleep(delay)
				continue
			}
			s.l.Close()
			s.conns.Wait()
			return fmt.Errorf("accept on %s: %w", s.cfg.Addr, err)
		}
		delay = 0
		if s.handshaking.Add(1) > maxHandshaking {
			// A flood of connections that never say hello: refuse the newest at once instead of holding a
			// goroutine and a socket for each until its handshake timeout.
			s.handshaking.Add(-1)
			s.count("handshake_limit")
			if s.limits.Allow("handshake_limit") {
				s.log.Warn("too many connections waiting for their hello; closing new ones", "limit", maxHandshaking, "remote", c.RemoteAddr().String())
			}
			c.Close()
			continue
		}
		s.conns.Add(1)
		go func() {
			defer s.conns.Done()
			s.handle(ctx, c)
		}()
	}
}

// acquireIP counts a viewer from ip, or reports false at the per-address limit.
func (s *Server) acquireIP(ip string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg.MaxPerAddr > 0 && s.perIP[ip] >= s.cfg.MaxPerAddr {
		return false
	}
	s.perIP[ip]++
	return true
}

func (s *Server) releaseIP(ip string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perIP[ip]--; s.perIP[ip] <= 0 {
		delete(s.perIP, ip)
	}
}
