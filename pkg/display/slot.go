package display

import (
	"sync"

	"gocv.io/x/gocv"
)

// Slot is a single latest-frame mailbox between the network goroutine and the window: Put takes ownership of m
// and closes the frame it replaces if the window had not taken it yet (so a slow window skips frames, never
// queues); Take hands the newest frame to the caller, who then owns it. Safe for concurrent use. Close closes
// whatever is left; a Put after Close closes its frame at once.
type Slot struct {
	mu      sync.Mutex
	m       gocv.Mat
	full    bool
	closed  bool
	skipped uint64
}

// NewSlot returns an empty slot.
func NewSlot() *Slot { return &Slot{} }

// Put stores m as the newest frame, taking ownership of it.
func (s *Slot) Put(m gocv.Mat) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		m.Close()
		return
	}
	old, hadOld := s.m, s.full
	s.m, s.full = m, true
	if hadOld {
		s.skipped++
	}
	s.mu.Unlock()
	if hadOld {
		old.Close() // outside the lock: closing is the slow part
	}
}

// Take returns the newest frame, if one arrived since the last Take; the caller owns it and must close it.
func (s *Slot) Take() (gocv.Mat, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.full {
		return gocv.Mat{}, false
	}
	m := s.m
	s.m, s.full = gocv.Mat{}, false
	return m, true
}

// Skipped counts the frames that were replaced before anyone took them.
func (s *Slot) Skipped() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.skipped
}

// Close closes the frame left in the slot; later Puts close their frames, later Takes find nothing.
func (s *Slot) Close() {
	s.mu.Lock()
	m, full := s.m, s.full
	s.m, s.full, s.closed = gocv.Mat{}, false, true
	s.mu.Unlock()
	if full {
		m.Close()
	}
}

// Closed reports whether Close was called: a producer can stop making frames nobody will show.
func (s *Slot) Closed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}
