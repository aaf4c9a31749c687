// Package testbin runs the real server and client binaries in end-to-end tests: it builds them once per test
// package, finds free loopback ports, and starts programs whose output is kept for assertions and printed when a
// test fails.
package testbin

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Build compiles pkgs (e.g. "./services/...") from the module root into a new temporary directory and returns it
// with a function that removes it. Meant for TestMain.
func Build(pkgs ...string) (dir string, cleanup func(), err error) {
	dir, err = os.MkdirTemp("", "camstream-bin-")
	if err != nil {
		return "", nil, err
	}
	cleanup = func() { os.RemoveAll(dir) }
	cmd := exec.Command("go", append([]string{"build", "-o", dir + "/"}, pkgs...)...)
	cmd.Dir = ModuleRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("go build %v: %v\n%s", pkgs, err, out)
	}
	return dir, cleanup, nil
}

// Main is a TestMain body: it builds pkgs, sets *dir to the binaries' directory, runs the tests and exits.
func Main(m *testing.M, dir *string, pkgs ...string) {
	d, cleanup, err := Build(pkgs...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*dir = d
	code := m.Run()
	cleanup()
	os.Exit(code)
}

// ModuleRoot returns the directory holding go.mod, above the working directory.
func ModuleRoot() string {
	wd, _ := os.Getwd()
	for d := wd; d != "/"; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
	}
	return wd
}

// FreeAddr returns a loopback address whose port nobody listens on right now.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Proc is a running program whose combined output is captured.
type Proc struct {
	Cmd  *exec.Cmd
	name string
	done chan struct{}

	mu  sync.Mutex
	out bytes.Buffer
}

// Write collects output; it is the program's stdout and stderr.
func (p *Proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

// Output returns everything the program printed so far.
func (p *Proc) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// Wait waits up to d for the program to exit and returns its exit code, or -1 if it is still running.
func (p *Proc) Wait(d time.Duration) int {
	select {
	case <-p.done:
		return p.Cmd.ProcessState.ExitCode()
	case <-time.After(d):
		return -1
	}
}

// Done is closed when the program has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Signal sends s to the program.
func (p *Proc) Signal(s syscall.Signal) { p.Cmd.Process.Signal(s) }

// Pid returns the program's process id.
func (p *Proc) Pid() int { return p.Cmd.Process.Pid }

// Start runs path with env on top of PATH and HOME only (so the tests' own environment does not leak in), and
// kills it when the test ends, printing its output if the test failed.
func Start(t testing.TB, path string, env map[string]string) *Proc {
	t.Helper()
	cmd := exec.Command(path)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &Proc{Cmd: cmd, name: filepath.Base(path), done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p, p
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.Signal(syscall.SIGKILL)
		<-p.done
		if t.Failed() {
			t.Logf("%s output:\n%s", p.name, p.Output())
		}
	})
	return p
}

// WaitTCP waits until addr accepts connections, failing the test if p exits first or 10 s pass.
func WaitTCP(t testing.TB, addr string, p *Proc) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return
		}
		if p.Wait(50*time.Millisecond) >= 0 {
			t.Fatalf("%s exited early:\n%s", p.name, p.Output())
		}
	}
	t.Fatalf("%s not listening on %s:\n%s", p.name, addr, p.Output())
}

// WaitFor polls cond every 50 ms until it holds or d passes, and reports whether it held.
func WaitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}
