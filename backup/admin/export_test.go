package admin

import "net/http"

// SetValidateHook makes h call hook inside the validation slot, before it
// validates, so that a test can hold a validation in flight.
func SetValidateHook(h http.Handler, hook func()) { h.(*handler).beforeValidate = hook }
