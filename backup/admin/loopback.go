package admin

import (
	"net"
	"net/http"
	"strings"
)

// LoopbackOnly guards a handler served without authorization on a
// loopback address. Any local process can reach such a server, and so can
// a web page in the operator's browser: LoopbackOnly refuses (403) a
// request whose Host header is not a loopback name (localhost, 127.0.0.0/8,
// ::1), which defeats DNS rebinding, and a cross-origin request from a
// browser (http.CrossOriginProtection: Sec-Fetch-Site and Origin). The
// handler's own Content-Type check on POST is the third guard.
func LoopbackOnly(h http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusForbidden, ErrCodeForbiddenHost, "cross-origin requests are refused by a server without authorization")
	}))
	guarded := cop.Handler(h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !IsLoopbackHost(r.Host) {
			writeError(w, http.StatusForbidden, ErrCodeForbiddenHost,
				"Host "+quoteOrNone(r.Host)+" is not a loopback name; a server without authorization answers only localhost, 127.0.0.1 or [::1]")
			return
		}
		guarded.ServeHTTP(w, r)
	})
}

// IsLoopbackHost reports whether hostport (a Host header or a listen
// address, with or without a port) names the loopback interface:
// "localhost" or a loopback IP address.
func IsLoopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	} else if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
