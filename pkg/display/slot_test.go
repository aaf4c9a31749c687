package display

import (
	"sync"
	"testing"

	"github.com/camstream/camstream/internal/matcheck"
	"gocv.io/x/gocv"
)

func smallMat(v float64) gocv.Mat {
	return gocv.NewMatWithSizeFromScalar(gocv.NewScalar(v, v, v, 0), 4, 4, gocv.MatTypeCV8UC3)
}

func TestSlotOwnership(t *testing.T) {
	start := matcheck.Count()
	s := NewSlot()
	if _, ok := s.Take(); ok {
		t.Fatal("Take on an empty slot returned a frame")
	}
	a, b := smallMat(1), smallMat(2)
	bp := b.Ptr()
	s.Put(a)
	s.Put(b) // replaces a, which nobody took: the slot closes it
	if !matcheck.Enabled {
		t.Log("build with -tags matprofile to check that replaced frames are closed")
	}
	matcheck.Expect(t, start+1)
	if s.Skipped() != 1 {
		t.Errorf("Skipped() = %d, want 1", s.Skipped())
	}
	got, ok := s.Take()
	if !ok || got.Ptr() != bp {
		t.Fatalf("Take = %v, %v; want the newest frame", got.Ptr(), ok)
	}
	if _, ok := s.Take(); ok {
		t.Fatal("second Take returned a frame again")
	}
	matcheck.Expect(t, start+1) // the taken frame is the caller's now
	got.Close()
	matcheck.Expect(t, start)

	s.Put(smallMat(3))
	s.Close() // closes what is left
	matcheck.Expect(t, start)
	s.Put(smallMat(4)) // after Close, Put closes at once
	matcheck.Expect(t, start)
	if _, ok := s.Take(); ok {
		t.Error("Take after Close returned a frame")
	}
	s.Close() // idempotent
}

func TestSlotConcurrent(t *testing.T) {
	start := matcheck.Count()
	s := NewSlot()
	const producers, each = 4, 300
	var wg sync.WaitGroup
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				s.Put(smallMat(float64(p*each + i)))
			}
		}()
	}
	done := make(chan struct{})
	allPut := stop(&wg)
	taken := 0
	go func() {
		defer close(done)
		for {
			if m, ok := s.Take(); ok {
				if m.Empty() {
					t.Error("took an empty Mat")
				}
				m.Close()
				taken++
				continue
			}
			select {
			case <-allPut:
				if m, ok := s.Take(); ok {
					m.Close()
					taken++
				}
				return
			default:
			}
		}
	}()
	<-done
	s.Close()
	if got := uint64(taken) + s.Skipped(); got != producers*each {
		t.Errorf("taken %d + skipped %d = %d, want %d", taken, s.Skipped(), got, producers*each)
	}
	matcheck.Expect(t, start)
}

// stop returns a channel closed once wg is done.
func stop(wg *sync.WaitGroup) <-chan struct{} {
	c := make(chan struct{})
	go func() { wg.Wait(); close(c) }()
	return c
}
