package httpserve

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"net/http"
	"strconv"
)

// indexHTML is the web viewer: one self-contained page (inline style and script, no external resources).
//
//go:embed web/index.html
var indexHTML []byte

// indexCSP allows the page's own inline style and script (by hash) and requests to this server only.
var indexCSP = "default-src 'none'; img-src 'self' data:; connect-src 'self'; " +
	"script-src '" + inlineHash(indexHTML, "<script>", "</script>") + "'; " +
	"style-src '" + inlineHash(indexHTML, "<style>", "</style>") + "'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'self'"

// inlineHash returns the CSP source expression ('sha256-…' without quotes) of the text between open and close.
func inlineHash(page []byte, open, close string) string {
	_, rest, ok := bytes.Cut(page, []byte(open))
	body, _, ok2 := bytes.Cut(rest, []byte(close))
	if !ok || !ok2 {
		panic("httpserve: web/index.html has no " + open + " element")
	}
	sum := sha256.Sum256(body)
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

func (s *Server) serveIndex(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(indexHTML)))
	h.Set("Content-Security-Policy", indexCSP)
	// The page's address may hold ?token=: never send it to anyone as a Referer.
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
	if r.Method == http.MethodHead {
		return
	}
	w.Write(indexHTML)
}
