package tlsconfig

import (
	"crypto/tls"
	"io"
	"testing"

	"github.com/camstream/camstream/pkg/tlsconfig/tlstest"
)

func TestRoundTrip(t *testing.T) {
	f := tlstest.Write(t)
	srv, err := Server(f.Cert, f.Key)
	if err != nil {
		t.Fatal(err)
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", srv)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("hi")) // completes the handshake or fails it
			c.Close()
		}
	}()
	cli, err := Client(f.CA, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	c, err := tls.Dial("tcp", l.Addr().String(), cli)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(c)
	if string(b) != "hi" {
		t.Fatalf("got %q", b)
	}
	// Without the CA the server is not trusted.
	plain, _ := Client("", "127.0.0.1")
	if c, err := tls.Dial("tcp", l.Addr().String(), plain); err == nil {
		c.Close()
		t.Fatal("untrusted server accepted")
	}
}

func TestErrors(t *testing.T) {
	tests := []struct{ cert, key string }{{"x.pem", ""}, {"", "k.pem"}, {"/nonexistent/c", "/nonexistent/k"}}
	for _, tc := range tests {
		if _, err := Server(tc.cert, tc.key); err == nil {
			t.Errorf("Server(%q, %q): no error", tc.cert, tc.key)
		}
	}
	if c, err := Server("", ""); c != nil || err != nil {
		t.Errorf("off: %v %v", c, err)
	}
	if _, err := Client("/nonexistent/ca.pem", "x"); err == nil {
		t.Error("missing CA file: no error")
	}
}
