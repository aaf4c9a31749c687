package display

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/camstream/camstream/pkg/display/xtest"
)

// The window must run on the main OS thread (Qt's GUI thread): init locks the main goroutine to it, TestMain
// runs the tests on another goroutine and serves onMain requests on this one.
func init() { runtime.LockOSThread() }

var (
	xsrv  *xtest.Server // the Xvfb the window tests use, nil when it could not start
	xerr  error         // why not
	mainq = make(chan func())
)

func TestMain(m *testing.M) {
	if xerr = xtest.Missing(); xerr == nil {
		xsrv, xerr = xtest.Start()
	}
	if xsrv != nil {
		os.Setenv("DISPLAY", xsrv.Display) // Run checks the display itself with os.Getenv
		os.Unsetenv("WAYLAND_DISPLAY")
	}
	// Qt wants a private runtime directory and complains on stderr without one.
	rt, err := os.MkdirTemp("", "display-test-xdg")
	if err == nil {
		os.Setenv("XDG_RUNTIME_DIR", rt)
	}
	done := make(chan int, 1)
	go func() { done <- m.Run() }()
	var code int
	for loop := true; loop; {
		select {
		case f := <-mainq:
			f()
		case code = <-done:
			loop = false
		}
	}
	if xsrv != nil {
		xsrv.Stop()
	}
	if rt != "" {
		os.RemoveAll(rt)
	}
	os.Exit(code)
}

// onMain runs f on the main OS thread and waits for it.
func onMain(f func()) {
	done := make(chan struct{})
	mainq <- func() { defer close(done); f() }
	<-done
}

// needX returns the test X server: it skips the test when Xvfb is not installed (fails under CI=true), and
// fails it when the server could not start.
func needX(t *testing.T) *xtest.Server {
	t.Helper()
	xtest.Require(t)
	if xsrv == nil {
		t.Fatalf("Xvfb: %v", xerr)
	}
	return xsrv
}

// logBuffer collects a logger's output for assertions.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) Contains(s string) bool { return strings.Contains(l.String(), s) }

func newLog(t *testing.T) (*slog.Logger, *logBuffer) {
	lb := &logBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			fmt.Fprintf(os.Stderr, "--- log of %s:\n%s", t.Name(), lb.String())
		}
	})
	return slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug})), lb
}
