package hostile

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/camstream/camstream/pkg/wire"
)

// AUTH_TOKEN protects every stream: on TCP a hello without the token, or with another, is refused (and a flood of
// guesses is logged once and counted); on HTTP every endpoint but the health probes answers 401 without it, and
// the token works as a bearer header or a query parameter.
func TestAuthTokenProtectsEveryStream(t *testing.T) {
	const token = "correct horse battery staple"
	srv := startServer(t, map[string]string{"AUTH_TOKEN": token})
	m0 := srv.mustMetrics(t)

	t.Run("tcp", func(t *testing.T) {
		guesses := []string{"", "correct", token + " ", strings.ToUpper(token), token[:len(token)-1] + "E",
			strings.Repeat("x", wire.MaxTokenLen)}
		for i := 0; i < 100; i++ {
			guesses = append(guesses, fmt.Sprintf("guess-%03d", i))
		}
		for _, g := range guesses {
			_, m, err := dialRaw(srv.addr, wire.Hello{Codec: wire.CodecJPEG, Token: g}, dialOpts{})
			if err != nil {
				t.Fatal(err)
			}
			if ref, ok := m.(*wire.Refuse); !ok || ref.Code != wire.RefuseAuth {
				t.Fatalf("token %q: answer %#v, want Refuse %v", g, m, wire.RefuseAuth)
			}
		}
		w := watch(t, srv.addr, wire.Hello{Codec: wire.CodecJPEG, Token: token})
		if !w.waitFrames(mark{}, 10, 10*time.Second) {
			t.Error("the right token gets no frames")
		}
		if n := countRefused(srv, wire.RefuseAuth); n != 1 {
			t.Errorf("%d wrong tokens from one address logged %d times, want once", len(guesses), n)
		}
		if d := srv.mustMetrics(t).refused("auth") - m0.refused("auth"); d < float64(len(guesses)) {
			t.Errorf("auth refusals counted %v, want >= %d", d, len(guesses))
		}
	})

	t.Run("http", func(t *testing.T) {
		protected := []string{"/", "/stream.mjpg", "/snapshot.jpg", "/api/status", "/metrics"}
		for _, p := range protected {
			for name, h := range map[string]map[string]string{
				"no token":     nil,
				"wrong bearer": {"Authorization": "Bearer " + token + "x"},
				"basic auth":   {"Authorization": "Basic " + token},
			} {
				if code, _ := status(t, srv, p, h); code != http.StatusUnauthorized {
					t.Errorf("GET %s with %s: %d, want 401", p, name, code)
				}
			}
			if code, _ := status(t, srv, p+"?token=wrong", nil); code != http.StatusUnauthorized {
				t.Errorf("GET %s?token=wrong: %d, want 401", p, code)
			}
			if code, _ := status(t, srv, p, map[string]string{"Authorization": "Bearer " + token}); code != http.StatusOK {
				t.Errorf("GET %s with the bearer token: %d, want 200", p, code)
			}
			q := p + "?token=" + strings.ReplaceAll(token, " ", "+")
			if code, _ := status(t, srv, q, nil); code != http.StatusOK {
				t.Errorf("GET %s: %d, want 200", q, code)
			}
		}
		for _, p := range []string{"/healthz", "/readyz"} {
			if code, _ := status(t, srv, p, nil); code == http.StatusUnauthorized {
				t.Errorf("GET %s without a token: 401; probes must not need the secret", p)
			}
		}
		// Refusals are logged once per remote address, like the TCP side's: a scan of the endpoints must not
		// flood the log.
		if n := len(logs(srv.proc, "http: request refused")); n > 1 {
			t.Errorf("%d refused HTTP requests from one address logged %d times, want once", 4*len(protected), n)
		}
	})
}

// status GETs path and returns the status code; a stream's body is not read.
func status(t *testing.T, srv *server, path string, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", "http://"+srv.httpAddr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	var b []byte
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "multipart/") {
		b, _ = io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	}
	return resp.StatusCode, string(b)
}

// No secret reaches a log, at any level, in either format: not the server's token, not a viewer's wrong token
// (TCP hello, client program, HTTP bearer or query), not the camera URL's password or token parameter, and not
// what OpenCV or FFmpeg print about that URL when the camera fails.
func TestSecretsNeverLogged(t *testing.T) {
	for _, format := range []string{"json", "text"} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			cam := newAuthMJPEGSource(t, "cam", "campass-SECRET1")
			srv := startServer(t, map[string]string{"AUTH_TOKEN": "srvtoken-SECRET2", "LOG_LEVEL": "debug", "LOG_FORMAT": format,
				"CAPTURE_SOURCE": "http://cam:campass-SECRET1@" + cam.addr + "/cam.mjpg?token=camtoken-SECRET3&res=hd"})
			good := start(t, "client", map[string]string{"SERVER_ADDR": srv.addr, "VIEWER_DISPLAY": "none", "LOG_FORMAT": format,
				"LOG_LEVEL": "debug", "STATS_INTERVAL": "200ms", "AUTH_TOKEN": "srvtoken-SECRET2"}, startOpts{})
			bad := start(t, "client", map[string]string{"SERVER_ADDR": srv.addr, "VIEWER_DISPLAY": "none", "LOG_FORMAT": format,
				"LOG_LEVEL": "debug", "AUTH_TOKEN": "wrongtoken-SECRET4"}, startOpts{})
			if code := bad.Wait(15 * time.Second); code != 1 {
				t.Errorf("client with a wrong token: exit %d, want 1", code)
			}
			if _, m, err := dialRaw(srv.addr, wire.Hello{Codec: wire.CodecJPEG, Token: "rawtoken-SECRET5"}, dialOpts{}); err != nil {
				t.Error(err)
			} else if _, ok := m.(*wire.Refuse); !ok {
				t.Errorf("wrong token accepted: %#v", m)
			}
			status(t, srv, "/snapshot.jpg?token=querytoken-SECRET6", nil)
			status(t, srv, "/api/status", map[string]string{"Authorization": "Bearer bearertoken-SECRET7"})
			status(t, srv, "/api/status?token=srvtoken-SECRET2", nil)
			if !waitFor(20*time.Second, func() bool { return statsFrames(good, format) >= 30 }) {
				t.Errorf("the client with the token receives nothing")
			}
			if !strings.Contains(srv.Output(), "capture: live") {
				t.Errorf("the server never opened the camera with the credentials in its URL")
			}
			// The camera fails: OpenCV and FFmpeg report it, the supervisor retries.
			cam.stop()
			waitFor(10*time.Second, func() bool { return strings.Contains(srv.Output(), "no signal") })
			time.Sleep(3 * time.Second) // a retry or two
			good.Signal(syscall.SIGTERM)
			good.Wait(5 * time.Second)

			secret := regexp.MustCompile(`[a-z]+-SECRET[0-9]`)
			for _, p := range []*proc{srv.proc, good, bad} {
				if s := secret.FindAllString(p.Output(), -1); len(s) > 0 {
					t.Errorf("%s output contains secrets %q", p.Name(), s)
					for _, l := range strings.Split(p.Output(), "\n") {
						if secret.MatchString(l) {
							t.Logf("  %s", l)
						}
					}
				}
			}
		})
	}
}

// newAuthMJPEGSource is an MJPEG camera that wants HTTP basic authentication.
func newAuthMJPEGSource(t *testing.T, user, pass string) *mjpegSource {
	return newMJPEGSource(t, func(s *mjpegSource) {
		s.auth = func(r *http.Request) bool {
			u, p, ok := r.BasicAuth()
			return ok && u == user && p == pass
		}
	})
}

// Nothing received from the network is executed or used as a path. Hostile names, tokens and reasons — shell
// syntax, path traversal, format verbs, control characters, forged log lines — reach both programs; afterwards
// neither has created a file anywhere it could (its working directory, or outside it through ../), and no log line
// was forged.
func TestNetworkInputIsInert(t *testing.T) {
	scratch := t.TempDir()
	serverDir := filepath.Join(scratch, "server-cwd")
	clientDir := filepath.Join(scratch, "client-cwd")
	for _, d := range []string{serverDir, clientDir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	payloads := []string{
		"$(touch pwned-subshell)", "`touch pwned-backtick`", "x; touch pwned-semicolon", "| touch pwned-pipe",
		"../pwned-traversal", "../../../../../../" + scratch + "/pwned-absolute", "%s%n%x%!", "a\x00b\x1b[31mred",
		"x\nlevel=ERROR msg=forged", "x\n{\"level\":\"ERROR\",\"msg\":\"forged\"}",
	}
	srv := startServerOpts(t, map[string]string{"LOG_LEVEL": "debug", "LOG_FORMAT": "text"}, startOpts{dir: serverDir})
	for _, p := range payloads {
		for _, h := range []wire.Hello{{Codec: wire.CodecJPEG, Client: trim(p, wire.MaxNameLen)}, {Codec: wire.CodecJPEG, Token: p}} {
			rc, _, err := dialRaw(srv.addr, h, dialOpts{})
			if err != nil {
				t.Fatalf("%q: %v", p, err)
			}
			rc.Close()
		}
	}
	checkNotForged(t, srv.proc)

	// A hostile server sends the same payloads to the client as its name, refusal reasons and goodbyes.
	for _, p := range payloads {
		fake := startFake(t, func(c net.Conn, stop <-chan struct{}) {
			acc, _ := wire.AppendAccept(wire.AppendPreamble(nil), wire.Accept{Codec: wire.CodecJPEG, Quality: 80, Width: 320,
				Height: 240, HeartbeatMillis: 1000, MaxPayload: 1 << 20, Server: trim(p, wire.MaxNameLen)})
			g, _ := wire.AppendGoodbye(nil, wire.Goodbye{Code: 99, Reason: p})
			c.Write(append(acc, g...))
			hold(c, stop, time.Second)
		})
		cli := start(t, "client", map[string]string{"SERVER_ADDR": fake.addr, "VIEWER_DISPLAY": "none", "LOG_LEVEL": "debug",
			"LOG_FORMAT": "text", "STATS_INTERVAL": "200ms"}, startOpts{dir: clientDir})
		if !waitFor(15*time.Second, func() bool { return fake.conns.Load() >= 2 && statsFrames(cli, "text") >= 10 }) {
			t.Errorf("%q: client did not recover", p)
		}
		checkNotForged(t, cli)
		cli.Kill()
	}
	var made []string
	filepath.Walk(scratch, func(path string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			made = append(made, path)
		}
		return nil
	})
	for _, d := range []string{filepath.Dir(scratch), "/tmp"} {
		if m, _ := filepath.Glob(filepath.Join(d, "pwned*")); len(m) > 0 {
			made = append(made, m...)
		}
	}
	if len(made) > 0 {
		t.Errorf("files were created from network input: %q", made)
	}
}

func trim(s string, n int) string {
	for len(s) > n {
		s = s[:len(s)-1]
	}
	for !utf8Valid(s) {
		s = s[:len(s)-1]
	}
	return s
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

// The containers run as non-root: the final stage of each Dockerfile sets a USER that is not root, and the compose
// file neither runs a service as root nor privileged.
func TestContainersRunAsNonRoot(t *testing.T) {
	root := moduleRoot()
	for _, name := range []string{"Dockerfile.server", "Dockerfile.client"} {
		f, err := os.Open(filepath.Join(root, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		user, stages := "", 0
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 2 {
				continue
			}
			switch strings.ToUpper(fields[0]) {
			case "FROM":
				stages++
				user = "" // a stage starts as root
			case "USER":
				user = fields[1]
			}
		}
		f.Close()
		if stages == 0 {
			t.Errorf("%s has no FROM", name)
		}
		if u, _, _ := strings.Cut(user, ":"); u == "" || u == "root" || u == "0" {
			t.Errorf("%s: the final stage runs as %q, want a non-root USER", name, user)
		}
	}
	b, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "#") {
			continue
		}
		if k, v, ok := strings.Cut(l, ":"); ok {
			v = strings.Trim(strings.TrimSpace(v), `"'`)
			if def := regexp.MustCompile(`^\$\{[A-Z_]+:-(.*)\}$`).FindStringSubmatch(v); def != nil {
				v = def[1] // the default when the variable is unset
			}
			switch strings.TrimSpace(k) {
			case "privileged":
				if v == "true" {
					t.Errorf("docker-compose.yml:%d: privileged", i+1)
				}
			case "user":
				if u, _, _ := strings.Cut(v, ":"); u == "" || u == "root" || u == "0" {
					t.Errorf("docker-compose.yml:%d: user %q is root", i+1, v)
				}
			}
		}
	}
}
