// Package fanout delivers each published value to any number of subscribers without letting a slow one hold
// back the publisher or the others: every subscriber has a single latest-value slot, so a subscriber that falls
// behind skips values (and counts them) instead of queueing them.
//
// Subscribers name a key (for the server: the format they want a frame in); the publisher asks Keys which keys
// are in use so it prepares each value once per key, however many subscribers share it.
package fanout

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// ErrFull is returned by Subscribe when the hub already has its maximum number of subscribers.
var ErrFull = errors.New("fanout: subscriber limit reached")

// ErrTimeout is returned by Sub.NextOrTimer when its timer fires first.
var ErrTimeout = errors.New("fanout: no value before the timer")

// ErrClosed is returned by Subscribe and Sub.Next once the hub is closed.
var ErrClosed = errors.New("fanout: hub closed")

// Hub publishes values of type V to subscribers keyed by K.
type Hub[K comparable, V any] struct {
	max int

	mu     sync.Mutex
	subs   map[*Sub[K, V]]struct{}
	counts map[K]int
	keys   []K // cached list of keys in use; rebuilt on subscription changes
	latest V
	has    bool
	closed bool

	waiters atomic.Int32  // subscribers blocked in Next with an empty slot
	roomy   atomic.Int32  // subscribers with nothing unclaimed in their slot (Sub.roomy)
	waiting chan struct{} // capacity 1: a subscriber took a value or started waiting
}

// New returns a hub that accepts at most max subscribers (0 means no limit).
func New[K comparable, V any](max int) *Hub[K, V] {
	return &Hub[K, V]{max: max, subs: make(map[*Sub[K, V]]struct{}), counts: make(map[K]int),
		waiting: make(chan struct{}, 1)}
}

// Waiting returns nil when a subscriber wants a value now: one is blocked in Next with nothing to take or, with
// ahead, one has taken the last value (its slot is empty); otherwise a channel that receives when that may have
// changed. A publisher that can make values at any time (a video file read as fast as it gives) uses it to make
// them only when they are wanted: a cheap value just in time, so it is fresh; a costly one ahead, so that nobody
// waits for the work. A value may arrive on the channel when nothing is wanted any more: ask again.
func (h *Hub[K, V]) Waiting(ahead bool) <-chan struct{} {
	if h.waiters.Load() > 0 || ahead && h.roomy.Load() > 0 {
		return nil
	}
	return h.waiting
}

// signal wakes a publisher blocked on Waiting's channel.
func (h *Hub[K, V]) signal() {
	select {
	case h.waiting <- struct{}{}:
	default:
	}
}

// Subscribe adds a subscriber for key. It fails with ErrFull at the limit and ErrClosed after Close.
func (h *Hub[K, V]) Subscribe(key K) (*Sub[K, V], error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.subscribeLocked(key)
}

func (h *Hub[K, V]) subscribeLocked(key K) (*Sub[K, V], error) {
	if h.closed {
		return nil, ErrClosed
	}
	if h.max > 0 && len(h.subs) >= h.max {
		return nil, ErrFull
	}
	s := &Sub[K, V]{hub: h, key: key, ready: make(chan struct{}, 1), done: make(chan struct{})}
	h.subs[s] = struct{}{}
	h.counts[key]++
	h.rebuildKeys()
	s.roomy = true
	h.roomy.Add(1)
	h.signal()
	return s, nil
}

// SubscribeLimited is Subscribe that keeps the number of keys in use at maxKeys at most: when key is not in use
// and maxKeys are, the subscriber gets fallback instead (see Sub.Key). The check and the subscription are one
// step, so concurrent subscribers cannot exceed the limit.
func (h *Hub[K, V]) SubscribeLimited(key, fallback K, maxKeys int) (*Sub[K, V], error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, inUse := h.counts[key]; !inUse && maxKeys > 0 && len(h.counts) >= maxKeys {
		key = fallback
	}
	return h.subscribeLocked(key)
}

// rebuildKeys refreshes h.keys; h.mu must be held. A new slice is made so callers of Keys may keep theirs.
func (h *Hub[K, V]) rebuildKeys() {
	keys := make([]K, 0, len(h.counts))
	for k := range h.counts {
		keys = append(keys, k)
	}
	h.keys = keys
}

// Keys returns the keys that have at least one subscriber. The slice must not be modified.
func (h *Hub[K, V]) Keys() []K {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.keys
}

// Len returns the number of subscribers.
func (h *Hub[K, V]) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// Publish hands v to every subscriber's slot, replacing (and counting as dropped) any value it had not taken
// yet. It never blocks on a subscriber. The hub also keeps v as the latest value.
func (h *Hub[K, V]) Publish(v V) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.latest, h.has = v, true
	for s := range h.subs {
		s.put(v)
	}
}

// Latest returns the last published value, if any.
func (h *Hub[K, V]) Latest() (V, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.latest, h.has
}

// Close ends every subscription: pending and future Next calls return ErrClosed.
func (h *Hub[K, V]) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.closed = true
	for s := range h.subs {
		s.closeLocked()
	}
}

func (h *Hub[K, V]) remove(s *Sub[K, V]) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[s]; !ok {
		return
	}
	delete(h.subs, s)
	if h.counts[s.key]--; h.counts[s.key] == 0 {
		delete(h.counts, s.key)
	}
	h.rebuildKeys()
	s.closeLocked()
}

// Sub is one subscription. Next is meant for one goroutine; Dropped and Close are safe from any.
type Sub[K comparable, V any] struct {
	hub   *Hub[K, V]
	key   K
	ready chan struct{} // capacity 1: "the slot has a value"
	done  chan struct{} // closed when the subscription ends

	mu      sync.Mutex
	slot    V
	full    bool
	ended   bool
	waiting bool // blocked in Next with an empty slot (counted in hub.waiters)
	roomy   bool // nothing unclaimed in the slot: empty, or given to a waiting Next (counted in hub.roomy)
	dropped uint64
}

// Key returns the key the subscriber asked for.
func (s *Sub[K, V]) Key() K { return s.key }

func (s *Sub[K, V]) put(v V) {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	if s.full {
		s.dropped++
	}
	// A subscriber blocked in Next takes v at once: it stays roomy, so that a publisher making values ahead
	// (Waiting(true)) makes the next one now rather than when the subscriber has woken up.
	if s.roomy && !s.waiting {
		s.roomy = false
		s.hub.roomy.Add(-1)
	}
	s.slot, s.full = v, true
	s.setWaiting(false)
	s.mu.Unlock()
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// Next waits for the newest value not yet taken. It returns ctx's error when ctx ends first, and ErrClosed once
// the subscription or the hub is closed.
func (s *Sub[K, V]) Next(ctx context.Context) (V, error) {
	return s.NextOrTimer(ctx, nil)
}

// NextOrTimer is Next that also returns ErrTimeout when timer delivers first (a nil timer never does). It lets a
// writer wait for a frame or its heartbeat time without allocating a context per frame.
func (s *Sub[K, V]) NextOrTimer(ctx context.Context, timer <-chan time.Time) (V, error) {
	var zero V
	for {
		s.mu.Lock()
		if s.ended {
			s.mu.Unlock()
			return zero, ErrClosed
		}
		if s.full {
			v := s.slot
			s.slot, s.full = zero, false
			if !s.roomy {
				s.roomy = true
				s.hub.roomy.Add(1)
				s.mu.Unlock()
				s.hub.signal()
				return v, nil
			}
			s.mu.Unlock()
			return v, nil
		}
		s.setWaiting(true)
		s.mu.Unlock()
		s.hub.signal()
		select {
		case <-s.ready:
		case <-s.done:
		case <-ctx.Done():
			s.notWaiting()
			return zero, ctx.Err()
		case <-timer:
			s.notWaiting()
			return zero, ErrTimeout
		}
	}
}

// setWaiting marks s as waiting for a value, or not, and keeps the hub's count; s.mu is held. A value put into
// the slot ends the wait at once (not when the subscriber wakes up), so a publisher asking Waiting right after
// Publish does not see the subscriber it just served as still waiting.
func (s *Sub[K, V]) setWaiting(w bool) {
	if s.waiting == w {
		return
	}
	s.waiting = w
	if w {
		s.hub.waiters.Add(1)
	} else {
		s.hub.waiters.Add(-1)
	}
}

func (s *Sub[K, V]) notWaiting() {
	s.mu.Lock()
	s.setWaiting(false)
	s.mu.Unlock()
}

// Dropped returns how many values were replaced in the slot before this subscriber took them.
func (s *Sub[K, V]) Dropped() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped
}

// Done is closed when the subscription ends.
func (s *Sub[K, V]) Done() <-chan struct{} { return s.done }

// Close ends the subscription and frees its place in the hub. It is idempotent.
func (s *Sub[K, V]) Close() { s.hub.remove(s) }

// closeLocked marks s ended; the hub's lock is held by the caller.
func (s *Sub[K, V]) closeLocked() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
	if s.roomy {
		s.roomy = false
		s.hub.roomy.Add(-1)
	}
	s.ended = true
	s.setWaiting(false)
	var zero V
	s.slot, s.full = zero, false // release the value for the garbage collector
	close(s.done)
}
