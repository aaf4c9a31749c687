// Package logonce keeps repeated events from flooding a log: an event is logged the first time its key is seen
// and then again only once per interval while it keeps happening, so a hostile peer repeating a bad request
// costs one line per minute, not one per request.
package logonce

import (
	"sync"
	"time"
)

// maxKeys bounds the memory a flood of distinct keys (addresses) can take; past it the table starts afresh.
const maxKeys = 4096

// Limiter decides which occurrences of keyed events to log. The zero value is not usable: use New.
type Limiter struct {
	every time.Duration
	now   func() time.Time

	mu   sync.Mutex
	last map[string]time.Time
}

// New returns a Limiter that allows a key once per every.
func New(every time.Duration) *Limiter {
	return &Limiter{every: every, now: time.Now, last: make(map[string]time.Time)}
}

// Allow reports whether an event with key should be logged now.
func (l *Limiter) Allow(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if prev, ok := l.last[key]; ok && now.Sub(prev) < l.every {
		return false
	}
	if len(l.last) >= maxKeys {
		clear(l.last)
	}
	l.last[key] = now
	return true
}
