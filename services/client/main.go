// Command client is the camstream viewer: it connects to a camstream server, receives its frames and shows them
// in a window (X11 or Wayland) or, headless, logs statistics. Every setting comes from an environment variable:
// run `client -h` for the list.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"syscall"
	"time"

	"github.com/oklog/run"
	"gocv.io/x/gocv"

	"github.com/camstream/camstream/pkg/display"
	"github.com/camstream/camstream/pkg/envconfig"
	"github.com/camstream/camstream/pkg/logging"
	"github.com/camstream/camstream/pkg/profiling"
	"github.com/camstream/camstream/pkg/record"
	"github.com/camstream/camstream/pkg/tlsconfig"
	"github.com/camstream/camstream/pkg/viewer"
	"github.com/camstream/camstream/pkg/wire"
)

// The window must be driven from the main OS thread (Qt); main runs on it because of this lock.
func init() { runtime.LockOSThread() }

func main() { os.Exit(view(os.Args[1:], envconfig.Environ(), os.Stdout, os.Stderr)) }

// view runs the client and returns the exit status: 0 after a signal or when the user closes the window,
// 1 when the server refuses us for good or something fails, 2 on bad settings.
func view(args []string, environ map[string]string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		if args[0] == "-h" || args[0] == "-help" || args[0] == "--help" {
			envconfig.Usage(stdout, "client", summary, &config{})
			return 0
		}
		fmt.Fprintf(stderr, "client: unknown argument %q: settings come from environment variables (see client -h)\n", args[0])
		return 2
	}
	cfg, err := loadConfig(environ)
	if err != nil {
		fmt.Fprintf(stderr, "client: %v\n(run client -h for every variable)\n", err)
		return 2
	}
	log, err := logging.New(stderr, cfg.LogFormat, cfg.LogLevel)
	if err != nil {
		fmt.Fprintf(stderr, "client: %v\n", err)
		return 2
	}
	getenv := func(k string) string { return environ[k] }
	window := false
	switch cfg.Display {
	case "window":
		if err := display.Usable(getenv); err != nil {
			fmt.Fprintf(stderr, "client: VIEWER_DISPLAY=window but no display is usable: %v\n", err)
			return 2
		}
		window = true
	case "auto":
		if err := display.Usable(getenv); err != nil {
			log.Warn("no display reachable; running headless (set VIEWER_DISPLAY=none to silence this)", "why", err)
		} else {
			window = true
		}
	}
	if window && !cfg.Decode {
		fmt.Fprintln(stderr, "client: invalid VIEWER_DECODE=\"false\": want true when a window shows the frames (or VIEWER_DISPLAY=none)")
		return 2
	}
	var tlsCfg = (*tlsConfig)(nil)
	if cfg.TLS {
		if tlsCfg, err = tlsconfig.Client(cfg.TLSCAFile, cfg.TLSServerName); err != nil {
			fmt.Fprintf(stderr, "client: %v\n", err)
			return 2
		}
	}

	var slot *display.Slot
	if window {
		slot = display.NewSlot()
		defer slot.Close()
	}
	rec := &recording{path: cfg.RecordPath, log: log}
	defer rec.close()
	codec := wire.CodecJPEG
	if cfg.Codec == "bgr" {
		codec = wire.CodecBGR
	}
	v := viewer.New(viewer.Config{
		Addr: cfg.ServerAddr, Token: cfg.Token, Codec: codec, Quality: uint8(cfg.Quality), Decode: cfg.Decode,
		TLS: tlsCfg, Log: log,
	})
	rec.fps = func() float64 { return float64(v.Accepted().FPSMilli) / 1000 }
	v.SetSink(sink(slot, rec))

	var g run.Group
	g.Add(run.SignalHandler(context.Background(), os.Interrupt, syscall.SIGTERM))
	ctx, cancel := context.WithCancel(context.Background())
	g.Add(func() error { return v.Run(ctx) }, func(error) { cancel() })
	statsCtx, stopStats := context.WithCancel(context.Background())
	g.Add(func() error { logStats(statsCtx, v, cfg.StatsInterval, log); return nil }, func(error) { stopStats() })
	if cfg.PprofAddr != "off" {
		serve, url, err := profiling.Listen(cfg.PprofAddr)
		if err != nil {
			log.Error("cannot serve profiles", "err", err)
			return 1
		}
		log.Info("serving Go profiles", "url", url)
		profCtx, stopProf := context.WithCancel(context.Background())
		g.Add(func() error { return serve(profCtx) }, func(error) { stopProf() })
	}
	if window {
		err, windowErr := display.RunGroup(&g, slot, display.Options{
			Title: "camstream — " + cfg.ServerAddr, SnapshotDir: cfg.SnapshotDir, Log: log,
			Info: func() display.Info { return overlayInfo(v) },
		}, true)
		return exitStatus(err, windowErr, log)
	}
	return exitStatus(g.Run(), nil, log)
}

type tlsConfig = tls.Config

// exitStatus maps how the group ended to the process status.
func exitStatus(err, windowErr error, log *slog.Logger) int {
	var ref *viewer.RefusedError
	switch {
	case errors.Is(err, run.ErrSignal): // a signal is the normal way to stop: status 0
		log.Info("stopped", "reason", err.Error())
		return 0
	case errors.Is(windowErr, display.ErrQuit) || err == nil && windowErr == nil:
		log.Info("stopped by the user")
		return 0
	case errors.As(err, &ref):
		log.Error("server refused this viewer", "code", ref.Code.String(), "reason", ref.Reason)
		return 1
	case err == nil:
		err = windowErr
	}
	log.Error("stopped", "err", err)
	return 1
}

// sink hands each decoded frame to the recorder and the window; a headless viewer without recording drops it.
func sink(slot *display.Slot, rec *recording) func(viewer.Frame) {
	return func(f viewer.Frame) {
		if !f.Decoded {
			return
		}
		rec.write(f.Mat)
		if slot != nil {
			slot.Put(f.Mat) // the slot owns it now
			return
		}
		f.Mat.Close()
	}
}

// recording is RECORD_PATH: opened on the first frame, at the stream's nominal rate, and finalised on every exit.
// A failing disk stops the recording, never the stream.
type recording struct {
	path   string
	log    *slog.Logger
	fps    func() float64
	rec    *record.Recorder
	failed bool
}

func (r *recording) write(m gocv.Mat) {
	if r.path == "" || r.failed {
		return
	}
	if r.rec == nil {
		r.rec = record.New(r.path, r.fps(), r.log) // record.DefaultFPS for an unpaced stream
	}
	if err := r.rec.Write(m); err != nil {
		r.log.Error("recording stopped; streaming goes on", "path", r.path, "err", err)
		r.failed = true
	}
}

func (r *recording) close() {
	if r.rec == nil {
		return
	}
	if r.failed { // said once already; what was written before the failure is finalised
		r.rec.Close()
		return
	}
	if err := r.rec.Close(); err != nil {
		r.log.Error("recording not finalised", "path", r.path, "err", err)
		return
	}
	r.log.Info("recording saved", "path", r.path, "frames", r.rec.Frames())
}

// overlayInfo is what the window's overlay shows.
func overlayInfo(v *viewer.Viewer) display.Info {
	st := v.State()
	fps, lat, dropped, w, h := v.Stats().Current()
	return display.Info{Live: st.Live, State: st.Message, FPS: fps, LatencyMs: lat, Dropped: dropped, Width: w, Height: h}
}

// logStats logs one stats record every interval until ctx is done.
func logStats(ctx context.Context, v *viewer.Viewer, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r := v.Stats().Report()
			log.Info("stats", "frames", r.Frames, "fps", round2(r.FPS), "latency_p50_ms", round2(r.LatencyP50ms),
				"latency_p99_ms", round2(r.LatencyP99ms), "decode_p50_ms", round2(r.DecodeP50ms), "dropped", r.Dropped, "skipped", r.Skipped,
				"width", r.Width, "height", r.Height, "no_signal", r.NoSignal, "connected", v.State().Live)
		}
	}
}

func round2(x float64) float64 { return float64(int64(x*100+0.5)) / 100 }
