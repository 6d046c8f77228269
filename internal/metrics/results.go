package metrics

import (
	"sync"
	"time"
)

// Outcome is how one operation ended: when, and whether it succeeded.
type Outcome struct {
	Time time.Time
	OK   bool
}

// Results holds the outcomes of the operations this process ran. The zero
// value is empty and ready; it is safe for concurrent use.
type Results struct {
	mu         sync.Mutex
	create     *Outcome
	validation *Outcome
	push       map[string]PushOutcome
}

// PushOutcome is how the last push to one target ended, and the target's
// name in the configuration file ("" when it was named by its URL).
type PushOutcome struct {
	Outcome
	Name string
}

// RecordCreate records a backup create that finished at t: ok when the
// snapshot is in place and valid. A create refused because another ran
// (busy) did not run; do not record it.
func (r *Results) RecordCreate(t time.Time, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.create = &Outcome{t, ok}
}

// RecordValidation records a validation that finished at t: ok when the
// snapshot is valid.
func (r *Results) RecordValidation(t time.Time, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.validation = &Outcome{t, ok}
}

// RecordPush records a push to target (its URL without secrets, as
// `remote list` prints it) that finished at t. A push that could not even
// open its target (unreachable, refused, a missing parent) is a push that
// failed: record it, ok false.
func (r *Results) RecordPush(target string, t time.Time, ok bool) {
	r.RecordNamedPush("", target, t, ok)
}

// RecordNamedPush is RecordPush for a target of the configuration file,
// whose name becomes the metrics' target_name label. A push to several
// targets records each.
func (r *Results) RecordNamedPush(name, target string, t time.Time, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.push == nil {
		r.push = map[string]PushOutcome{}
	}
	r.push[target] = PushOutcome{Outcome{t, ok}, name}
}

// HasPushes reports whether a push was recorded (SavePushes has work).
func (r *Results) HasPushes() bool {
	if r == nil {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.push) > 0
}

// snapshot copies the outcomes under the lock.
func (r *Results) snapshot() (create, validation *Outcome, push map[string]PushOutcome) {
	if r == nil {
		return nil, nil, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	push = make(map[string]PushOutcome, len(r.push))
	for k, v := range r.push {
		push[k] = v
	}
	if r.create != nil {
		c := *r.create
		create = &c
	}
	if r.validation != nil {
		v := *r.validation
		validation = &v
	}
	return create, validation, push
}
