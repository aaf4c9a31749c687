// Command server is the camstream capture server: it reads a camera (or a video file, a URL or the built-in test
// pattern) and serves its frames to any number of viewers over the camstream TCP protocol and HTTP.
// Every setting comes from an environment variable: run `server -h` for the list.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"syscall"

	"github.com/oklog/run"
	"gocv.io/x/gocv"

	"github.com/camstream/camstream/pkg/auth"
	"github.com/camstream/camstream/pkg/capture"
	"github.com/camstream/camstream/pkg/display"
	"github.com/camstream/camstream/pkg/encode"
	"github.com/camstream/camstream/pkg/envconfig"
	"github.com/camstream/camstream/pkg/fanout"
	"github.com/camstream/camstream/pkg/httpserve"
	"github.com/camstream/camstream/pkg/listenaddr"
	"github.com/camstream/camstream/pkg/logging"
	"github.com/camstream/camstream/pkg/metrics"
	"github.com/camstream/camstream/pkg/profiling"
	"github.com/camstream/camstream/pkg/streamserver"
	"github.com/camstream/camstream/pkg/tlsconfig"
	"github.com/camstream/camstream/pkg/wire"
)

// A SERVER_PREVIEW window must be driven from the main OS thread (Qt); main runs on it because of this lock.
func init() { runtime.LockOSThread() }

func main() { os.Exit(serve(os.Args[1:], envconfig.Environ(), os.Stdout, os.Stderr)) }

// serve runs the server and returns the process exit status: 0 after a signal, 1 on failure, 2 on bad settings.
func serve(args []string, environ map[string]string, stdout, stderr io.Writer) int {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
		envconfig.Usage(stdout, "server", summary, &config{})
		fmt.Fprintln(stdout, "\nFlags: -h prints this help; -healthcheck probes the running server's /healthz (for container HEALTHCHECK).")
		return 0
	}
	cfg, err := loadConfig(environ)
	if err != nil {
		fmt.Fprintf(stderr, "server: %v\n(run server -h for every variable)\n", err)
		return 2
	}
	if len(args) > 0 {
		if args[0] == "-healthcheck" {
			return healthcheck(cfg, stderr)
		}
		fmt.Fprintf(stderr, "server: unknown argument %q: settings come from environment variables (see server -h)\n", args[0])
		return 2
	}
	log, err := logging.New(stderr, cfg.LogFormat, cfg.LogLevel)
	if err != nil {
		fmt.Fprintf(stderr, "server: %v\n", err)
		return 2
	}
	tlsCfg, err := tlsconfig.Server(cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		log.Error("TLS settings", "err", err)
		return 2
	}

	m := metrics.New(metrics.Version())
	hub := fanout.New[encode.Format, *encode.Frame](cfg.MaxClients)
	defer hub.Close()
	enc := encode.New(cfg.Quality, m)
	defer enc.Close()
	// Unpaced files and the test pattern are read when a viewer wants a frame; a preview window wants them all.
	demand := hub.Waiting
	if cfg.Preview {
		demand = nil
	}
	sup := capture.NewSupervisor(capture.Config{
		Source:      cfg.Source,
		Open:        capture.Options{Width: cfg.Width, Height: cfg.Height, FPS: cfg.FPS},
		FPS:         cfg.FPS,
		Transform:   capture.Transform{ResizeWidth: cfg.ResizeWidth, Mirror: cfg.Mirror},
		Passthrough: cfg.Passthrough == "auto",
		Demand:      demand,
		Width:       cfg.Width, Height: cfg.Height,
		Log: log,
	})
	pipe := &encode.Pipeline{Supervisor: sup, Encoder: enc, Hub: hub, Metrics: m, Log: log, CardWidth: cfg.Width, CardHeight: cfg.Height}
	streams := streamserver.New(streamserver.Config{
		Addr: cfg.ListenAddr, TLS: tlsCfg, Hub: hub, JPEGQuality: cfg.Quality, Token: auth.Token(cfg.Token),
		MaxPerAddr: cfg.MaxPerAddr, HandshakeTimeout: cfg.HandshakeWait, WriteTimeout: cfg.WriteTimeout,
		Heartbeat: cfg.Heartbeat, Info: streamInfo(hub, cfg), Metrics: m, Log: log,
	})
	if err := streams.Listen(); err != nil {
		log.Error("cannot serve viewers", "err", err)
		return 1
	}
	log.Info("camstream server starting", "source", capture.Describe(cfg.Source), "auth", auth.Token(cfg.Token).String(), "tls", tlsCfg != nil)
	for _, a := range listenaddr.Reachable(streams.Addr()) {
		log.Info("viewers can connect", "SERVER_ADDR", a)
	}

	var g run.Group
	g.Add(run.SignalHandler(context.Background(), os.Interrupt, syscall.SIGTERM))
	addContext(&g, pipe.Run)
	addContext(&g, streams.Serve)
	if cfg.PprofAddr != "off" {
		serve, url, err := profiling.Listen(cfg.PprofAddr)
		if err != nil {
			log.Error("cannot serve profiles", "err", err)
			return 1
		}
		log.Info("serving Go profiles", "url", url)
		addContext(&g, serve)
	}
	if err := addHTTP(&g, cfg, tlsCfg, hub, sup, m, log); err != nil {
		log.Error("cannot serve HTTP", "err", err)
		return 1
	}
	if slot := previewSlot(cfg, environ, pipe, log); slot != nil {
		defer slot.Close()
		var winErr error
		err, winErr = display.RunGroup(&g, slot, display.Options{Title: "camstream server preview — " + capture.Describe(cfg.Source), Log: log}, false)
		if winErr != nil && !errors.Is(winErr, display.ErrQuit) {
			log.Warn("preview window failed; serving goes on", "err", winErr)
		}
	} else {
		err = g.Run()
	}
	if errors.Is(err, run.ErrSignal) { // a signal is the normal way to stop: status 0
		log.Info("stopped", "reason", err.Error())
		return 0
	}
	log.Error("stopped", "err", err)
	return 1
}

// addContext adds an actor that runs fn until its context is cancelled by the group's interrupt.
func addContext(g *run.Group, fn func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	g.Add(func() error {
		if err := fn(ctx); err != nil {
			return err
		}
		if ctx.Err() == nil {
			return errors.New("stopped unexpectedly")
		}
		return nil
	}, func(error) { cancel() })
}

// streamInfo reports the stream's current size (of the last published frame) and nominal rate for Accept.
func streamInfo(hub *encode.Hub, cfg config) func() streamserver.StreamInfo {
	return func() streamserver.StreamInfo {
		si := streamserver.StreamInfo{Width: cfg.Width, Height: cfg.Height, FPSMilli: uint32(cfg.FPS * 1000)}
		if fr, ok := hub.Latest(); ok {
			si.Width, si.Height = fr.Width, fr.Height
		}
		return si
	}
}

// addHTTP adds the HTTP listener unless HTTP_ADDR is off; the port is bound now so a clash fails at start.
func addHTTP(g *run.Group, cfg config, tlsCfg *tls.Config, hub *encode.Hub, sup *capture.Supervisor, m *metrics.Metrics, log *slog.Logger) error {
	if cfg.HTTPAddr == "off" {
		return nil
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.HTTPAddr, err)
	}
	srv := httpserve.New(httpserve.Config{
		Addr: cfg.HTTPAddr, TLS: tlsCfg, Hub: hub, JPEG: encode.Format{Codec: wire.CodecJPEG, Quality: cfg.Quality},
		Token: auth.Token(cfg.Token), Metrics: m, MaxViewers: cfg.MaxClients, WriteTimeout: cfg.WriteTimeout, Log: log,
		Status: func() httpserve.SourceStatus {
			st := sup.Status()
			return httpserve.SourceStatus{State: st.State.String(), Live: st.State == capture.StateLive, Source: st.Source,
				Since: st.Since, LastFrame: st.LastFrame, Passthrough: st.Passthrough, LastError: st.LastError}
		},
	})
	addContext(g, func(ctx context.Context) error { return srv.Serve(ctx, ln) })
	return nil
}

// healthcheck probes the running server's /healthz: the container HEALTHCHECK.
func healthcheck(cfg config, stderr io.Writer) int {
	if cfg.HTTPAddr == "off" {
		fmt.Fprintln(stderr, "server: -healthcheck needs the HTTP listener (HTTP_ADDR is off)")
		return 1
	}
	if err := httpserve.Probe(cfg.HTTPAddr, cfg.TLSCert != ""); err != nil {
		fmt.Fprintf(stderr, "server: %v\n", err)
		return 1
	}
	return 0
}

// previewSlot sets up SERVER_PREVIEW: frames go to a window on the server's display when one is usable. Without a
// display the server goes on without the preview, saying why once.
func previewSlot(cfg config, environ map[string]string, pipe *encode.Pipeline, log *slog.Logger) *display.Slot {
	if !cfg.Preview {
		return nil
	}
	if err := display.Usable(func(k string) string { return environ[k] }); err != nil {
		log.Warn("SERVER_PREVIEW=true but no display is usable; serving without a preview", "why", err)
		return nil
	}
	slot := display.NewSlot()
	pipe.Tap = func(cf *capture.Frame) {
		if slot.Closed() { // the user closed the preview
			return
		}
		var m gocv.Mat
		if cf.Kind == capture.KindJPEG {
			m, _ = gocv.IMDecode(cf.JPEG, gocv.IMReadColor)
		} else {
			m = cf.Mat.Clone()
		}
		if m.Empty() {
			m.Close()
			return
		}
		slot.Put(m) // the slot owns it now
	}
	return slot
}
