package httpserve

import (
	"net"
	"net/http"
	"strings"
)

// requireToken lets a request through to h only with the configured token, given as
// "Authorization: Bearer <token>" or as the query parameter token (for <img> tags and players that cannot set
// headers). Anything else gets 401 with a WWW-Authenticate challenge, is logged once as a warning (remote
// address and path only: never the token, never the query) and counted as refused for "auth".
func (s *Server) requireToken(h http.Handler) http.Handler {
	if !s.cfg.Token.Enabled() {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		header, hasHeader := bearer(r)
		query := r.URL.Query().Get("token")
		if hasHeader && s.cfg.Token.Allows(header) || query != "" && s.cfg.Token.Allows(query) {
			h.ServeHTTP(w, r)
			return
		}
		reason, challenge := "missing token", `Bearer realm="camstream"`
		if hasHeader || query != "" {
			reason, challenge = "wrong token", `Bearer realm="camstream", error="invalid_token"`
		}
		s.cfg.Metrics.Refused.WithLabelValues("auth").Inc()
		if s.limits.Allow("auth:" + remoteIP(r)) {
			s.log.Warn("http: request refused", "reason", reason, "remote", r.RemoteAddr, "method", r.Method,
				"path", r.URL.Path)
		}
		w.Header().Set("WWW-Authenticate", challenge)
		textError(w, http.StatusUnauthorized, "401 unauthorized: "+reason+
			`; send "Authorization: Bearer <token>" or add ?token=<token> to the URL`)
	})
}

// bearer returns the credentials of an "Authorization: Bearer …" header, and whether there was one.
func bearer(r *http.Request) (string, bool) {
	v := r.Header.Get("Authorization")
	scheme, cred, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", v != ""
	}
	return strings.TrimSpace(cred), true
}

// remoteIP is the address a request came from, without the port: the key of its refusal log.
func remoteIP(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}
