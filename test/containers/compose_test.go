// Package containers_test checks the container side of camstream end to end:
// Dockerfile.server, Dockerfile.client and docker-compose.yml, with every
// Compose implementation found on the machine (the v2 plugin `docker compose`
// and Debian's v1 `docker-compose`).
//
// Run it alone, with a generous timeout (a cold image build takes a while):
//
//	go test -v -count=1 -timeout 60m ./test/containers/
//
// Needs a Docker engine (scripts/docker-engine.sh starts one) and the base
// images (pulled, or made by scripts/base-images.sh, which the test runs
// itself when they are missing). Without an engine the tests skip, unless
// CI=true, where they fail.
//
// The images are built once per test run (tag CAMSTREAM_TAG=e2e, so the
// developer's :latest images are left alone) and then shared by all tests.
package containers_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	imageTag     = "e2e"
	serverImage  = "camstream/server:" + imageTag
	clientImage  = "camstream/client:" + imageTag
	statsEvery   = time.Second // STATS_INTERVAL for the viewer in the scenario
	downTimeout  = 10          // seconds, `down --timeout`
	downSlack    = 20 * time.Second
	healthyLimit = 3 * time.Minute
)

var baseImages = []string{"debian:bookworm-slim", "golang:1.26-bookworm"}

// composeImpl is one way of running Compose.
type composeImpl struct {
	name string   // "v2" or "v1"
	argv []string // command prefix
}

func (c composeImpl) String() string { return strings.Join(c.argv, " ") }

// env is what the package-level setup found and made; filled once.
var (
	setupOnce sync.Once
	setup     struct {
		skip     string // non-empty: reason to skip (or fail under CI)
		err      error  // setup failed
		root     string // repository root
		impls    []composeImpl
		buildLog []string
	}
)

func isCI() bool { return os.Getenv("CI") == "true" }

// requireImages skips or fails the test when no Docker engine or Compose is
// available, and builds both images (once per test run).
func requireImages(t *testing.T) (root string, impls []composeImpl) {
	t.Helper()
	setupOnce.Do(doSetup)
	for _, l := range setup.buildLog {
		t.Log(l)
	}
	setup.buildLog = nil // log the build once, in the first test
	if setup.skip != "" {
		if isCI() {
			t.Fatalf("CI=true but %s", setup.skip)
		}
		t.Skip(setup.skip)
	}
	if setup.err != nil {
		t.Fatal(setup.err)
	}
	return setup.root, setup.impls
}

func logf(format string, args ...any) {
	setup.buildLog = append(setup.buildLog, fmt.Sprintf(format, args...))
}

func doSetup() {
	root, err := repoRoot()
	if err != nil {
		setup.err = err
		return
	}
	setup.root = root

	if _, err := exec.LookPath("docker"); err != nil {
		setup.skip = "no docker CLI on PATH (Debian: apt-get install docker.io)"
		return
	}
	if out, err := runOut(30*time.Second, nil, "", "docker", "info", "--format", "{{.ServerVersion}}"); err != nil {
		setup.skip = fmt.Sprintf("no Docker engine answers (start one with scripts/docker-engine.sh): %v: %s", err, lastLines(out, 3))
		return
	} else {
		logf("Docker engine %s", strings.TrimSpace(out))
	}

	for _, c := range []composeImpl{
		{"v2", []string{"docker", "compose"}},
		{"v1", []string{"docker-compose"}},
	} {
		if _, err := exec.LookPath(c.argv[0]); err != nil {
			logf("compose %s (%s): not installed", c.name, c)
			continue
		}
		out, err := run(30*time.Second, nil, "", c.argv[0], append(c.argv[1:], "version")...)
		if err != nil {
			logf("compose %s (%s): not usable: %v", c.name, c, err)
			continue
		}
		logf("compose %s (%s): %s", c.name, c, firstLine(out))
		setup.impls = append(setup.impls, c)
	}
	if len(setup.impls) == 0 {
		setup.skip = "no Compose implementation (docker compose / docker-compose) found; " +
			"Debian: apt-get install docker-compose, or scripts/compose-v2.sh"
		return
	}

	// Base images: pulled, or made locally on a machine that cannot pull.
	var missing []string
	for _, img := range baseImages {
		if _, err := run(30*time.Second, nil, "", "docker", "image", "inspect", img); err != nil {
			missing = append(missing, img)
		}
	}
	if len(missing) > 0 {
		logf("base images missing (%s): running scripts/base-images.sh", strings.Join(missing, ", "))
		start := time.Now()
		out, err := run(30*time.Minute, nil, root, filepath.Join(root, "scripts", "base-images.sh"))
		if err != nil {
			// Not fatal by itself: where a registry is reachable the build pulls them.
			logf("scripts/base-images.sh failed (%v), the build will try to pull:\n%s", err, lastLines(out, 20))
		} else {
			logf("scripts/base-images.sh took %s", time.Since(start).Round(time.Second))
		}
	}

	// Build both images once, with the first implementation found (v2 when present).
	c := setup.impls[0]
	start := time.Now()
	out, err := run(45*time.Minute, composeEnv(nil), root,
		c.argv[0], append(c.argv[1:], "-f", filepath.Join(root, "docker-compose.yml"),
			"-p", "camstream-e2e-build", "build")...)
	if err != nil {
		setup.err = fmt.Errorf("%s build failed after %s: %v\n%s", c, time.Since(start).Round(time.Second), err, lastLines(out, 60))
		return
	}
	logf("%s build of both images took %s", c, time.Since(start).Round(time.Second))
	for _, img := range []string{serverImage, clientImage} {
		out, err := runOut(30*time.Second, nil, "", "docker", "image", "inspect", "-f", "{{.Size}}", img)
		if err != nil {
			setup.err = fmt.Errorf("image %s missing after build: %v", img, err)
			return
		}
		size, _ := strconv.ParseInt(strings.TrimSpace(out), 10, 64)
		logf("image %s: %d bytes (%.1f MB)", img, size, float64(size)/1e6)
	}
}

// TestImages checks what the images promise on their own.
func TestImages(t *testing.T) {
	requireImages(t)

	for _, img := range []string{serverImage, clientImage} {
		out, err := runOut(time.Minute, nil, "", "docker", "run", "--rm", "--entrypoint", "id", img, "-u")
		if err != nil {
			t.Errorf("%s: id -u: %v: %s", img, err, out)
			continue
		}
		if uid := strings.TrimSpace(out); uid == "0" || uid == "" {
			t.Errorf("%s runs as uid %q, want a non-root user", img, uid)
		} else {
			t.Logf("%s runs as uid %s", img, uid)
		}
	}

	out, err := runOut(time.Minute, nil, "", "docker", "run", "--rm", "--entrypoint", "id", serverImage, "-Gn")
	if err != nil || !containsWord(out, "video") {
		t.Errorf("%s: user should be in group video; id -Gn: %q (%v)", serverImage, strings.TrimSpace(out), err)
	}

	out, err = runOut(30*time.Second, nil, "", "docker", "image", "inspect", "-f", "{{json .Config.Healthcheck}}", serverImage)
	if err != nil {
		t.Fatalf("inspect %s: %v", serverImage, err)
	}
	var hc struct {
		Test     []string
		Interval int64
	}
	if err := json.Unmarshal([]byte(out), &hc); err != nil || len(hc.Test) == 0 {
		t.Errorf("%s has no HEALTHCHECK (inspect: %s)", serverImage, strings.TrimSpace(out))
	} else if !strings.Contains(strings.Join(hc.Test, " "), "-healthcheck") {
		t.Errorf("%s HEALTHCHECK is %v, want it to run `server -healthcheck`", serverImage, hc.Test)
	} else {
		t.Logf("%s HEALTHCHECK %v every %s", serverImage, hc.Test, time.Duration(hc.Interval))
	}

	// The runtime images carry the OpenCV runtime libraries, not the -dev packages.
	for _, img := range []string{serverImage, clientImage} {
		out, err := runOut(time.Minute, nil, "", "docker", "run", "--rm", "--entrypoint", "sh", img, "-c",
			"dpkg-query -W -f '${db:Status-Abbrev} ${Package}\\n' 'libopencv*' | awk '$1 == \"ii\" { print $2 }' | sort | tr '\\n' ' '")
		if err != nil {
			t.Errorf("%s: dpkg-query: %v: %s", img, err, out)
			continue
		}
		if strings.Contains(out, "-dev") {
			t.Errorf("%s contains OpenCV development packages: %s", img, out)
		}
		t.Logf("%s OpenCV packages: %s", img, strings.TrimSpace(out))
	}
}

// TestServerWithoutCamera starts the server image as it comes (default
// CAPTURE_SOURCE=/dev/video0) in a container that has no camera: it must keep
// running and report healthy (it serves a NO SIGNAL card).
func TestServerWithoutCamera(t *testing.T) {
	requireImages(t)

	name := uniqueName("camstream-e2e-nocam")
	t.Cleanup(func() { _, _ = run(time.Minute, nil, "", "docker", "rm", "-f", "-v", name) })
	if out, err := run(time.Minute, nil, "", "docker", "run", "-d", "--name", name, serverImage); err != nil {
		t.Fatalf("docker run: %v: %s", err, out)
	}
	if err := waitHealthy(name, healthyLimit); err != nil {
		t.Fatalf("server without camera: %v\nlogs:\n%s", err, containerLogs(name, 30))
	}
	// Stay up across at least one more health check.
	time.Sleep(12 * time.Second)
	st, err := inspectState(name)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Running || st.Health != "healthy" || st.RestartCount != 0 {
		t.Fatalf("server without camera after a while: running=%v health=%s restarts=%d\nlogs:\n%s",
			st.Running, st.Health, st.RestartCount, containerLogs(name, 30))
	}
	t.Logf("server without camera: healthy, running since %s\nlast log lines:\n%s", st.StartedAt, containerLogs(name, 5))

	// It serves the NO SIGNAL card: a headless viewer in the server's network
	// namespace receives frames.
	viewer := uniqueName("camstream-e2e-nocam-viewer")
	t.Cleanup(func() { _, _ = run(time.Minute, nil, "", "docker", "rm", "-f", "-v", viewer) })
	if out, err := run(time.Minute, nil, "", "docker", "run", "-d", "--name", viewer, "--network", "container:"+name,
		"-e", "SERVER_ADDR=127.0.0.1:8485", "-e", "VIEWER_DISPLAY=none", "-e", "LOG_FORMAT=json",
		"-e", "STATS_INTERVAL="+statsEvery.String(), clientImage); err != nil {
		t.Fatalf("docker run viewer: %v: %s", err, out)
	}
	f1 := waitFrames(t, viewer, 0, time.Minute, "NO SIGNAL frames")
	f2 := waitFrames(t, viewer, f1.Frames, 30*time.Second, "NO SIGNAL frames increasing")
	if f2.NoSignal != nil && !*f2.NoSignal {
		t.Errorf("viewer of a server without camera reports no_signal=false: %+v", f2)
	}
	t.Logf("viewer of the server without camera: frames %d -> %d, %dx%d, no_signal=%v",
		f1.Frames, f2.Frames, f2.Width, f2.Height, fmtBoolPtr(f2.NoSignal))
}

func fmtBoolPtr(b *bool) string {
	if b == nil {
		return "(not reported)"
	}
	return strconv.FormatBool(*b)
}

// TestComposeScenario runs the whole stack with every Compose implementation.
func TestComposeScenario(t *testing.T) {
	root, impls := requireImages(t)
	for _, c := range impls {
		c := c
		t.Run(c.name, func(t *testing.T) { composeScenario(t, root, c) })
	}
}

func composeScenario(t *testing.T, root string, c composeImpl) {
	project := uniqueName("camstream-e2e-" + c.name)
	envFile := filepath.Join(t.TempDir(), "empty.env") // keep a developer's .env out
	if err := os.WriteFile(envFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	env := composeEnv(map[string]string{
		"CAPTURE_SOURCE": "testpattern",
		"CAPTURE_WIDTH":  "640",
		"CAPTURE_HEIGHT": "360",
		"CAPTURE_FPS":    "15",
		"VIEWER_DISPLAY": "none",
		"LOG_FORMAT":     "json",
		"STATS_INTERVAL": statsEvery.String(),
		// no fixed host ports: loopback, picked by the engine
		"SERVER_STREAM_PUBLISH": "127.0.0.1:0",
		"SERVER_HTTP_PUBLISH":   "127.0.0.1:0",
	})
	composeArgs := func(args []string) []string {
		full := append(append([]string{}, c.argv[1:]...),
			"--env-file", envFile, "-f", filepath.Join(root, "docker-compose.yml"), "-p", project)
		return append(full, args...)
	}
	compose := func(timeout time.Duration, args ...string) (string, error) {
		return run(timeout, env, root, c.argv[0], composeArgs(args)...)
	}
	composeOut := func(timeout time.Duration, args ...string) (string, error) {
		return runOut(timeout, env, root, c.argv[0], composeArgs(args)...)
	}
	mustCompose := func(timeout time.Duration, args ...string) string {
		t.Helper()
		out, err := compose(timeout, args...)
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", c, strings.Join(args, " "), err, lastLines(out, 40))
		}
		return out
	}
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := compose(time.Minute, "logs", "--no-color", "--tail", "40")
			t.Logf("compose logs:\n%s", out)
		}
		if out, err := compose(2*time.Minute, "down", "-v", "--remove-orphans", "--timeout", "5"); err != nil {
			t.Logf("cleanup: down -v: %v\n%s", err, lastLines(out, 20))
		}
	})

	start := time.Now()
	mustCompose(5*time.Minute, "up", "-d", "--no-build")
	t.Logf("up -d returned after %s", time.Since(start).Round(100*time.Millisecond))

	server := containerID(t, composeOut, "server")
	if err := waitHealthy(server, healthyLimit); err != nil {
		t.Fatalf("server: %v", err)
	}
	t.Logf("server healthy after %s", time.Since(start).Round(100*time.Millisecond))

	viewer := containerID(t, composeOut, "viewer")
	f1 := waitFrames(t, viewer, 0, time.Minute, "first frames")
	f2 := waitFrames(t, viewer, f1.Frames, 30*time.Second, "frames increasing")
	t.Logf("viewer stats: frames %d -> %d, fps %.1f, %dx%d, latency p50 %.1f ms",
		f1.Frames, f2.Frames, f2.FPS, f2.Width, f2.Height, f2.LatencyP50)

	viewerBefore, err := inspectState(viewer)
	if err != nil {
		t.Fatal(err)
	}
	serverBefore, err := inspectState(server)
	if err != nil {
		t.Fatal(err)
	}

	// Kill the server; the viewer keeps running and reconnects on its own.
	mustCompose(time.Minute, "kill", "server")
	killedAt := time.Now()
	if err := waitFor(30*time.Second, func() (bool, error) {
		st, err := inspectState(server)
		return err == nil && (!st.Running || st.StartedAt != serverBefore.StartedAt), err
	}); err != nil {
		t.Fatalf("server did not go down after kill: %v", err)
	}
	time.Sleep(3 * statsEvery) // let the viewer notice
	down := latestStats(viewer)
	time.Sleep(2*statsEvery + statsEvery/2)
	down2 := latestStats(viewer)
	if st, _ := inspectState(server); st.Running {
		t.Logf("note: the engine restarted the killed server by itself (restart policy)")
	} else if down2.Frames != down.Frames {
		t.Errorf("viewer frames went on (%d -> %d) while the server was down", down.Frames, down2.Frames)
	}
	t.Logf("while the server was down: frames %d (fps %.1f)", down2.Frames, down2.FPS)

	mustCompose(time.Minute, "start", "server")
	if err := waitHealthy(server, healthyLimit); err != nil {
		t.Fatalf("server after restart: %v", err)
	}
	f3 := waitFrames(t, viewer, down2.Frames, 2*time.Minute, "frames again after the server restart")
	f4 := waitFrames(t, viewer, f3.Frames, 30*time.Second, "frames increasing after the server restart")
	t.Logf("after the server restart: frames %d -> %d (%s after the kill)", f3.Frames, f4.Frames,
		time.Since(killedAt).Round(100*time.Millisecond))

	if id := containerID(t, composeOut, "viewer"); id != viewer {
		t.Errorf("viewer container was replaced (%s -> %s)", short(viewer), short(id))
	}
	viewerAfter, err := inspectState(viewer)
	if err != nil {
		t.Fatal(err)
	}
	if viewerAfter.StartedAt != viewerBefore.StartedAt || viewerAfter.RestartCount != viewerBefore.RestartCount || !viewerAfter.Running {
		t.Errorf("viewer was restarted: StartedAt %s -> %s, RestartCount %d -> %d, running %v",
			viewerBefore.StartedAt, viewerAfter.StartedAt, viewerBefore.RestartCount, viewerAfter.RestartCount, viewerAfter.Running)
	}

	// down ends everything within its timeout.
	start = time.Now()
	mustCompose(time.Duration(downTimeout)*time.Second+2*time.Minute, "down", "--timeout", strconv.Itoa(downTimeout))
	took := time.Since(start)
	t.Logf("down --timeout %d took %s", downTimeout, took.Round(100*time.Millisecond))
	if took > time.Duration(downTimeout)*time.Second+downSlack {
		t.Errorf("down --timeout %d took %s", downTimeout, took.Round(100*time.Millisecond))
	}
	out, err := runOut(30*time.Second, nil, "", "docker", "ps", "-a", "-q", "--filter", "label=com.docker.compose.project="+project)
	if err != nil {
		t.Fatalf("docker ps: %v", err)
	}
	if left := strings.Fields(out); len(left) > 0 {
		t.Errorf("containers left after down: %v", left)
	}
}

// ---- viewer stats -----------------------------------------------------------

type stats struct {
	Msg        string  `json:"msg"`
	Frames     int64   `json:"frames"`
	FPS        float64 `json:"fps"`
	LatencyP50 float64 `json:"latency_p50_ms"`
	LatencyP99 float64 `json:"latency_p99_ms"`
	Dropped    int64   `json:"dropped"`
	Width      int     `json:"width"`
	Height     int     `json:"height"`
	NoSignal   *bool   `json:"no_signal"` // not in every version of the client
	lines      int     // how many stats lines so far
}

// latestStats returns the last stats line the viewer logged (zero if none).
func latestStats(container string) stats {
	out, _ := run(30*time.Second, nil, "", "docker", "logs", container)
	var last stats
	n := 0
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] != '{' {
			continue
		}
		var s stats
		if json.Unmarshal(line, &s) == nil && s.Msg == "stats" {
			last = s
			n++
		}
	}
	last.lines = n
	return last
}

// waitFrames waits until the viewer reports more than `above` frames.
func waitFrames(t *testing.T, container string, above int64, limit time.Duration, what string) stats {
	t.Helper()
	var s stats
	err := waitFor(limit, func() (bool, error) {
		s = latestStats(container)
		return s.lines > 0 && s.Frames > above, nil
	})
	if err != nil {
		t.Fatalf("viewer: waiting for %s (frames > %d): %v; last stats %+v\nviewer logs:\n%s",
			what, above, err, s, containerLogs(container, 20))
	}
	return s
}

// ---- docker helpers ---------------------------------------------------------

type state struct {
	Running      bool
	StartedAt    string
	RestartCount int
	Health       string
}

func inspectState(container string) (state, error) {
	out, err := runOut(30*time.Second, nil, "", "docker", "inspect", "-f",
		"{{.State.Running}}|{{.State.StartedAt}}|{{.RestartCount}}|{{if .State.Health}}{{.State.Health.Status}}{{end}}", container)
	if err != nil {
		return state{}, fmt.Errorf("inspect %s: %v: %s", short(container), err, out)
	}
	f := strings.Split(strings.TrimSpace(out), "|")
	if len(f) != 4 {
		return state{}, fmt.Errorf("inspect %s: unexpected %q", short(container), out)
	}
	rc, _ := strconv.Atoi(f[2])
	return state{Running: f[0] == "true", StartedAt: f[1], RestartCount: rc, Health: f[3]}, nil
}

func waitHealthy(container string, limit time.Duration) error {
	var st state
	err := waitFor(limit, func() (bool, error) {
		var err error
		st, err = inspectState(container)
		if err != nil {
			return false, err
		}
		if st.Health == "" {
			return false, errors.New("container has no health check")
		}
		return st.Running && st.Health == "healthy", nil
	})
	if err != nil {
		return fmt.Errorf("not healthy (running=%v health=%q restarts=%d): %w", st.Running, st.Health, st.RestartCount, err)
	}
	return nil
}

func containerID(t *testing.T, compose func(time.Duration, ...string) (string, error), service string) string {
	t.Helper()
	out, err := compose(time.Minute, "ps", "-q", service)
	id := strings.TrimSpace(out)
	if err != nil || id == "" || strings.ContainsAny(id, " \n") {
		t.Fatalf("compose ps -q %s: %q (%v)", service, out, err)
	}
	return id
}

func containerLogs(container string, n int) string {
	out, _ := run(30*time.Second, nil, "", "docker", "logs", "--tail", strconv.Itoa(n), container)
	return out
}

// waitFor polls cond every half second until it is true, returns an error,
// or limit passes.
func waitFor(limit time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(limit)
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		if err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s", limit)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// ---- process helpers --------------------------------------------------------

// configVars are the variables docker-compose.yml reads; the scenario starts
// from an environment without them so that a developer's shell settings
// (CAPTURE_SOURCE=/dev/video2, DISPLAY, ...) cannot change what is tested.
var configVars = []string{
	"CAPTURE_SOURCE", "CAPTURE_WIDTH", "CAPTURE_HEIGHT", "CAPTURE_FPS", "CAPTURE_RESIZE_WIDTH",
	"CAPTURE_MIRROR", "CAPTURE_PASSTHROUGH", "JPEG_QUALITY", "LISTEN_ADDR", "HTTP_ADDR",
	"AUTH_TOKEN", "MAX_CLIENTS", "SERVER_PREVIEW", "LOG_FORMAT", "LOG_LEVEL",
	"SERVER_ADDR", "VIEWER_DISPLAY", "VIEWER_DECODE", "STATS_INTERVAL", "SNAPSHOT_DIR", "RECORD_PATH",
	"SERVER_STREAM_PUBLISH", "SERVER_HTTP_PUBLISH", "VIDEO_GID", "VIEWER_SERVER_ADDR", "VIEWER_USER",
	"VIEWER_DATA_DIR", "VIEWER_XDG_RUNTIME_DIR", "VIEWER_WAYLAND_DISPLAY", "VIEWER_QT_QPA_PLATFORM",
	"MAX_CLIENTS_PER_ADDR", "WRITE_TIMEOUT", "HEARTBEAT_INTERVAL", "HANDSHAKE_TIMEOUT", "TLS_CERT_FILE",
	"TLS_KEY_FILE", "SERVER_TLS_DIR", "VIEWER_CODEC", "VIEWER_QUALITY", "TLS", "TLS_CA_FILE", "TLS_SERVER_NAME",
	"VIEWER_TLS_DIR", "CAMSTREAM_TAG", "CAMSTREAM_IMAGE_PREFIX", "DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM",
	"COMPOSE_FILE", "COMPOSE_PROJECT_NAME", "COMPOSE_PROFILES", "COMPOSE_ENV_FILES",
}

// composeEnv is the process environment without configVars, plus the test's
// image tag and the given settings.
func composeEnv(set map[string]string) []string {
	drop := map[string]bool{}
	for _, v := range configVars {
		drop[v] = true
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !drop[k] {
			env = append(env, kv)
		}
	}
	env = append(env, "CAMSTREAM_TAG="+imageTag, "CAMSTREAM_IMAGE_PREFIX=camstream/")
	for k, v := range set {
		env = append(env, k+"="+v)
	}
	return env
}

// run runs a command with a time limit and returns its combined output.
// env nil means the test process's environment.
func run(limit time.Duration, env []string, dir, name string, args ...string) (string, error) {
	stdout, stderr, err := run2(limit, env, dir, name, args...)
	return stdout + stderr, err
}

// runOut is run for output that is parsed: it returns stdout alone (Compose
// v2 writes warnings such as "the attribute `version` is obsolete" to
// stderr), with stderr in the error.
func runOut(limit time.Duration, env []string, dir, name string, args ...string) (string, error) {
	stdout, stderr, err := run2(limit, env, dir, name, args...)
	if err != nil {
		err = fmt.Errorf("%w: %s", err, lastLines(stderr, 10))
	}
	return stdout, err
}

func run2(limit time.Duration, env []string, dir, name string, args ...string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	cmd.Dir = dir
	cmd.Stdin = nil
	cmd.WaitDelay = 10 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		err = fmt.Errorf("%s %s: timed out after %s", name, strings.Join(args, " "), limit)
	}
	return stdout.String(), stderr.String(), err
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "docker-compose.yml")); err == nil {
			if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
				return d, nil
			}
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no repository root (go.mod + docker-compose.yml) above %s", dir)
		}
	}
}

func uniqueName(prefix string) string {
	return fmt.Sprintf("%s-%d-%04d", prefix, os.Getpid(), rand.Intn(10000))
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func containsWord(s, w string) bool {
	for _, f := range strings.Fields(s) {
		if f == w {
			return true
		}
	}
	return false
}
