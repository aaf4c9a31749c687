// Package matcheck lets tests assert that they close every gocv.Mat they make. Built with the matprofile tag
// (`go test -tags matprofile`), Check compares gocv's count of live Mats before and after a test; without the
// tag gocv keeps no count and Check does nothing.
package matcheck

import (
	"testing"
	"time"
)

// Check fails t if it ends with more or fewer live Mats than it started with. Call it first in a test, so its
// cleanup runs after the test's other cleanups.
func Check(t testing.TB) {
	t.Helper()
	if !Enabled {
		return
	}
	start := count()
	t.Cleanup(func() {
		// Background closers (an abandoned read, a window's last frame) may still be finishing.
		deadline := time.Now().Add(2 * time.Second)
		for count() != start && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if got := count(); got != start {
			t.Errorf("Mat leak: %d live Mats at start, %d at end\n%s", start, got, dump())
		}
	})
}

// Count returns gocv's count of live Mats (0 without the matprofile tag).
func Count() int { return count() }

// Expect fails t unless n Mats are live now; without the matprofile tag it does nothing.
func Expect(t testing.TB, n int) {
	t.Helper()
	if got := count(); Enabled && got != n {
		t.Errorf("%d Mats open, want %d:\n%s", got, n, dump())
	}
}
