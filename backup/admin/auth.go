package admin

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
)

// BearerToken returns an Authorize hook that requires the header
// "Authorization: Bearer <token>", the scheme matched case-insensitively
// (RFC 9110 §11.1) and the token compared in constant time. An empty
// token refuses every request, so a missing setting never opens the API.
func BearerToken(token string) func(*http.Request) error {
	return func(r *http.Request) error {
		scheme, got, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		got = strings.TrimSpace(got)
		if token == "" || !ok || !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
			return errors.New("a valid Authorization: Bearer token is required")
		}
		return nil
	}
}
