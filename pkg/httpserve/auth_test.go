package httpserve

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"image/jpeg"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/camstream/camstream/pkg/auth"
	"github.com/camstream/camstream/pkg/tlsconfig"
	"github.com/camstream/camstream/pkg/tlsconfig/tlstest"
)

const testToken = "Zq7-pX2-secret-tok3n"

func TestAuth(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.Token = auth.Token(testToken) })
	e.publish()
	// do returns the status of a GET, reading no more than the headers (the stream never ends).
	do := func(path string, hdr ...string) (int, http.Header) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.url+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header
	}
	refusals := 0
	for _, path := range []string{"/", "/stream.mjpg", "/snapshot.jpg", "/api/status", "/metrics"} {
		join := "?"
		if strings.Contains(path, "?") {
			join = "&"
		}
		for _, tc := range []struct {
			name  string
			path  string
			hdr   []string
			code  int
			error string // WWW-Authenticate error parameter
		}{
			{"no token", path, nil, 401, ""},
			{"wrong header", path, []string{"Authorization", "Bearer Wr0ngGuess"}, 401, "invalid_token"},
			{"wrong query", path + join + "token=Wr0ngGuess", nil, 401, "invalid_token"},
			{"token prefix", path + join + "token=" + testToken[:5], nil, 401, "invalid_token"},
			{"basic scheme", path, []string{"Authorization", "Basic " + testToken}, 401, "invalid_token"},
			{"header", path, []string{"Authorization", "Bearer " + testToken}, 200, ""},
			{"header lower-case scheme", path, []string{"Authorization", "bearer " + testToken}, 200, ""},
			{"query", path + join + "token=" + testToken, nil, 200, ""},
			{"wrong header, right query", path + join + "token=" + testToken, []string{"Authorization", "Bearer nope"}, 200, ""},
		} {
			code, h := do(tc.path, tc.hdr...)
			if code != tc.code {
				t.Errorf("%s %s: %d, want %d", path, tc.name, code, tc.code)
			}
			if code == 401 {
				refusals++
				www := h.Get("WWW-Authenticate")
				if !strings.HasPrefix(www, "Bearer") || tc.error != "" && !strings.Contains(www, tc.error) {
					t.Errorf("%s %s: WWW-Authenticate %q", path, tc.name, www)
				}
			}
		}
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, _ := do(path); code != 200 {
			t.Errorf("%s without the token: %d, want 200", path, code)
		}
	}
	if got := testutil.ToFloat64(e.m.Refused.WithLabelValues("auth")); got != float64(refusals) {
		t.Errorf("refused{auth} = %v, want %d", got, refusals)
	}
	logs := e.logs.String()
	// Every refusal is counted, but one address's refusals are logged once a minute: a scan cannot flood the log.
	if n := strings.Count(logs, `level=WARN msg="http: request refused"`); n != 1 {
		t.Errorf("%d refusals from one address logged, want 1", n)
	}
	if !regexp.MustCompile(`msg="http: request refused" reason="[a-z ]+" remote=127\.0\.0\.1:\d+ method=GET path=/`).MatchString(logs) {
		t.Errorf("refusal logged without reason, path or remote address:\n%s", logs)
	}
	for _, secret := range []string{testToken, testToken[:5], "token=", "Wr0ngGuess"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log contains %q:\n%s", secret, logs)
		}
	}
	// The web viewer also reports that a token is needed.
	code, _, body := get(t, nil, e.url+"/api/status?token="+testToken)
	if code != 200 || !bytes.Contains(body, []byte(`"auth": true`)) {
		t.Errorf("status with the token: %d %s", code, body)
	}
}

func TestTLS(t *testing.T) {
	t.Parallel()
	files := tlstest.Write(t)
	cfg, err := tlsconfig.Server(files.Cert, files.Key)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(c *Config) { c.TLS = cfg })
	e.publish()
	if !strings.HasPrefix(e.url, "https://") {
		t.Fatalf("url %s", e.url)
	}
	pem, err := os.ReadFile(files.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	trusting := &http.Client{Timeout: 10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	code, h, body := get(t, trusting, e.url+"/snapshot.jpg")
	if code != 200 || h.Get("Content-Type") != "image/jpeg" {
		t.Fatalf("snapshot over TLS: %d %v", code, h)
	}
	if _, err := jpeg.Decode(bytes.NewReader(body)); err != nil {
		t.Errorf("snapshot over TLS: %v", err)
	}
	// The stream over TLS (HTTP/2 with this client).
	resp, err := trusting.Get(e.url + "/stream.mjpg")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
		t.Errorf("stream over TLS: %s %s", resp.Proto, resp.Status)
	}
	// The server shares its TLS config with the stream server: serving HTTP/2 must not have changed it (a data
	// race with the stream server's handshakes, found by the hostile suite).
	if len(cfg.NextProtos) != 0 {
		t.Errorf("the caller's TLS config was changed: NextProtos %q", cfg.NextProtos)
	}

	untrusting := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
	_, err = untrusting.Get(e.url + "/snapshot.jpg")
	var unknown x509.UnknownAuthorityError
	if err == nil || !errors.As(err, &unknown) {
		t.Errorf("client without the CA: err = %v, want an unknown authority error", err)
	}
	if resp, err := http.Get("http://" + e.addr + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest { // Go's "client sent an HTTP request to an HTTPS server"
			t.Errorf("plain HTTP on the TLS port: %s", resp.Status)
		}
	}
	if err := Probe(e.addr, true); err != nil {
		t.Errorf("Probe over TLS: %v", err)
	}
	if err := Probe(e.addr, false); err == nil {
		t.Error("Probe over plain HTTP of a TLS server succeeded")
	}
}

func TestProbe(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.Token = "x" }) // /healthz needs no token
	_, port, _ := net.SplitHostPort(e.addr)
	for _, addr := range []string{e.addr, ":" + port, "0.0.0.0:" + port, "[::]:" + port} {
		if err := Probe(addr, false); err != nil {
			t.Errorf("Probe(%q): %v", addr, err)
		}
	}
	// Nothing listening: an error, quickly.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	free := ln.Addr().String()
	ln.Close()
	start := time.Now()
	if err := Probe(free, false); err == nil || time.Since(start) > 3*time.Second {
		t.Errorf("Probe of a closed port: %v after %v", err, time.Since(start))
	}
	for _, bad := range []string{"", "8080", ":0", "host:"} {
		if err := Probe(bad, false); err == nil {
			t.Errorf("Probe(%q) succeeded", bad)
		}
	}
	// A server that does not answer 200.
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) })}
	ln, _ = net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(ln)
	defer srv.Close()
	if err := Probe(ln.Addr().String(), false); err == nil || !strings.Contains(err.Error(), "500") {
		t.Errorf("Probe of a server answering 500: %v", err)
	}
}
