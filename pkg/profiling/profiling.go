// Package profiling serves Go's runtime profiles (net/http/pprof: CPU, heap, allocations, goroutines, mutex and
// block contention, execution traces) on a listener of their own, apart from the public HTTP side: profiles
// show internals and cost CPU, so they are off unless PPROF_ADDR asks for them, best on a loopback address.
//
//	go tool pprof -top http://127.0.0.1:6060/debug/pprof/profile?seconds=10
//	go tool pprof -sample_index=alloc_space -top http://127.0.0.1:6060/debug/pprof/allocs
package profiling

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"time"
)

// Handler returns the pprof endpoints under /debug/pprof/.
func Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// Listen binds addr and returns the function that serves the profiles there until its context is done (a
// run.Group actor) and the URL of their index, to log.
func Listen(addr string) (serve func(context.Context) error, url string, err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", err
	}
	return func(ctx context.Context) error { return Serve(ctx, ln) }, "http://" + ln.Addr().String() + "/debug/pprof/", nil
}

// Serve serves Handler on ln until ctx is done, then closes it. Mutex and block profiles are sampled while it
// runs (1 in 100 events), so that lock contention in the fan-out can be looked at.
func Serve(ctx context.Context, ln net.Listener) error {
	runtime.SetMutexProfileFraction(100)
	runtime.SetBlockProfileRate(int(100 * time.Microsecond))
	defer runtime.SetMutexProfileFraction(0)
	defer runtime.SetBlockProfileRate(0)
	srv := &http.Server{Handler: Handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		srv.Close()
		if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
}
