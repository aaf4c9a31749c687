package profiling

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Listen binds, the endpoints answer with real profiles, and serving stops when its context ends.
func TestServe(t *testing.T) {
	serve, base, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Listen("not an address"); err == nil {
		t.Error("Listen accepted a bad address")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx) }()
	get := func(path string) []byte {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %s %s", path, resp.Status, b)
		}
		return b
	}
	tests := []struct {
		path, want string
	}{
		{"", "goroutine"},
		{"heap?debug=1", "heap profile"},
		{"goroutine?debug=1", "profiling.TestServe"},
		{"mutex?debug=1", "cycles/second"},
	}
	for _, tc := range tests {
		if b := get(tc.path); !strings.Contains(string(b), tc.want) {
			t.Errorf("%s does not contain %q:\n%.300s", tc.path, tc.want, b)
		}
	}
	// A CPU profile is a gzipped protocol buffer.
	zr, err := gzip.NewReader(bytes.NewReader(get("profile?seconds=1")))
	if err != nil {
		t.Fatalf("CPU profile is not gzip: %v", err)
	}
	if b, err := io.ReadAll(zr); err != nil || len(b) == 0 {
		t.Fatalf("CPU profile: %d bytes, %v", len(b), err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
}
