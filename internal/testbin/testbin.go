// Package testbin runs the real server and client binaries in end-to-end tests: it builds them once per test
// package, finds free loopback ports, and starts programs whose output is kept for assertions and printed when a
// test fails.
package testbin

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Build compiles pkgs (e.g. "./services/...") from the module root into a new temporary directory and returns it
// with a function that removes it. Meant for TestMain.
func Build(pkgs ...string) (dir string, cleanup func(), err error) { return BuildFlags(nil, pkgs...) }

// BuildFlags is Build with extra go build flags (e.g. -race).
func BuildFlags(flags []string, pkgs ...string) (dir string, cleanup func(), err error) {
	dir, err = os.MkdirTemp("", "camstream-bin-")
	if err != nil {
		return "", nil, err
	}
	cleanup = func() { os.RemoveAll(dir) }
	args := append(append([]string{"build"}, flags...), "-o", dir+"/")
	cmd := exec.Command("go", append(args, pkgs...)...)
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

// Name returns the program's file name.
func (p *Proc) Name() string { return p.name }

// Running reports whether the program has not exited yet.
func (p *Proc) Running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Kill sends SIGKILL and waits for the program to be gone.
func (p *Proc) Kill() {
	p.Signal(syscall.SIGKILL)
	<-p.done
}

// Logs returns the program's LOG_FORMAT=json records whose msg is msg ("" = all); other output lines are skipped.
func (p *Proc) Logs(msg string) []map[string]any {
	var ls []map[string]any
	sc := bufio.NewScanner(strings.NewReader(p.Output()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 || line[0] != '{' {
			continue
		}
		var l map[string]any
		if json.Unmarshal(line, &l) != nil {
			continue
		}
		if m, _ := l["msg"].(string); msg == "" || m == msg {
			ls = append(ls, l)
		}
	}
	return ls
}

// Opts are StartWith's options.
type Opts struct {
	Dir  string   // working directory ("" = the test's)
	Wrap []string // a command that runs the program (e.g. unshare and its flags); the program's path follows
	// Check, when set, looks at the program's whole output when the test ends, after the program was killed.
	Check func(t testing.TB, output string)
}

// Start runs path with env on top of PATH and HOME only (so the tests' own environment does not leak in), and
// kills it when the test ends, printing its output (the last 16 KB) if the test failed.
func Start(t testing.TB, path string, env map[string]string) *Proc {
	t.Helper()
	return StartWith(t, path, env, Opts{})
}

// StartWith is Start with options.
func StartWith(t testing.TB, path string, env map[string]string, o Opts) *Proc {
	t.Helper()
	argv := append(append([]string(nil), o.Wrap...), path)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Dir = o.Dir
	p := &Proc{Cmd: cmd, name: filepath.Base(path), done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p, p
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.Kill()
		out := p.Output()
		if o.Check != nil {
			o.Check(t, out)
		}
		if t.Failed() {
			t.Logf("%s output (last 16 KB):\n%s", p.name, Tail(out, 16<<10))
		}
	})
	return p
}

// Tail returns the last n bytes of s, marked as cut when it is.
func Tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// WaitTCP waits until addr accepts connections, failing the test if p exits first or 15 s pass (a -race build
// starts slowly).
func WaitTCP(t testing.TB, addr string, p *Proc) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
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

// StatusMiB reads a "kB" field of /proc/<pid>/status (VmRSS, VmHWM) in MiB; -1 when it cannot.
func StatusMiB(pid int, field string) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err != nil {
				return -1
			}
			return kb / 1024
		}
	}
	return -1
}
