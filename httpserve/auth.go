package httpserve

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// RequireToken wraps next so that every request must carry token:
// "Authorization: Bearer TOKEN", "?token=TOKEN" in the URL (for players,
// which cannot send headers), or Basic authentication with TOKEN as the
// password (for WebDAV clients that know no other). Anything else gets
// 401 and nothing of next. An empty token lets every request through.
func RequireToken(token string, next http.Handler) http.Handler {
	if token == "" {
		return next
	}
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := sha256.Sum256([]byte(requestToken(r)))
		// Comparing digests takes the same time whatever the length.
		if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="torfs", Basic realm="torfs"`)
			http.Error(w, "401 unauthorized: this server wants a token (Authorization: Bearer TOKEN, or ?token=TOKEN)", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), tokenKey{}, token)))
	})
}

// tokenKey keys the token a request was let in with in its context.
type tokenKey struct{}

// grantedToken is the token RequireToken let r in with, "" for none.
func grantedToken(r *http.Request) string {
	tok, _ := r.Context().Value(tokenKey{}).(string)
	return tok
}

// requestToken is the token r carries, "" for none.
func requestToken(r *http.Request) string {
	if a := r.Header.Get("Authorization"); a != "" {
		if tok, ok := strings.CutPrefix(a, "Bearer "); ok {
			return strings.TrimSpace(tok)
		}
		if _, pw, ok := r.BasicAuth(); ok {
			return pw
		}
	}
	return r.URL.Query().Get("token")
}

// Loopback reports whether a server listening on addr (host:port, as
// net.Listen takes it) is reachable only from this machine: its host is
// a loopback address or "localhost". An empty host listens everywhere.
func Loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// LoopbackHostsOnly wraps next so that it answers only requests naming
// this machine in their Host header: "localhost", a name under
// ".localhost", or a loopback address. A server without a token relies
// on listening on loopback alone, and that is not enough against DNS
// rebinding: a web page whose name an attacker points at 127.0.0.1
// reaches the server from the victim's browser, but its requests carry
// the attacker's name, which this guard refuses with 403.
func LoopbackHostsOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !loopbackHost(r.Host) {
			http.Error(w, fmt.Sprintf("403 forbidden: this server has no token and answers only requests to localhost, 127.0.0.1 or [::1], not %q (give it --http-token to serve other names)", r.Host), http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// loopbackHost reports whether a Host header (host or host:port) names
// this machine.
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && ip.IsLoopback()
}
