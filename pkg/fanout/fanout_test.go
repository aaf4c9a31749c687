package fanout

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"
)

func TestSubscribeLimitAndKeys(t *testing.T) {
	h := New[string, int](2)
	a, err := h.Subscribe("jpeg")
	if err != nil {
		t.Fatal(err)
	}
	b, err := h.Subscribe("bgr")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Subscribe("jpeg"); !errors.Is(err, ErrFull) {
		t.Fatalf("third subscribe: err = %v, want ErrFull", err)
	}
	keys := append([]string(nil), h.Keys()...)
	sort.Strings(keys)
	if len(keys) != 2 || keys[0] != "bgr" || keys[1] != "jpeg" {
		t.Fatalf("keys = %v", keys)
	}
	b.Close()
	b.Close() // idempotent
	if k := h.Keys(); len(k) != 1 || k[0] != "jpeg" {
		t.Fatalf("keys after close = %v", k)
	}
	if _, err := h.Subscribe("jpeg"); err != nil {
		t.Fatalf("subscribe after a close: %v", err)
	}
	if h.Len() != 2 {
		t.Fatalf("len = %d", h.Len())
	}
	a.Close()
}

func TestLatestSlotDropsInsteadOfQueueing(t *testing.T) {
	tests := []struct {
		name        string
		publish     int
		wantValue   int
		wantDropped uint64
	}{
		{"one", 1, 1, 0},
		{"three before reading", 3, 3, 2},
		{"hundred", 100, 100, 99},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := New[string, int](0)
			s, _ := h.Subscribe("k")
			defer s.Close()
			for i := 1; i <= tc.publish; i++ {
				h.Publish(i)
			}
			v, err := s.Next(context.Background())
			if err != nil || v != tc.wantValue {
				t.Fatalf("Next = %d, %v; want %d", v, err, tc.wantValue)
			}
			if d := s.Dropped(); d != tc.wantDropped {
				t.Fatalf("dropped = %d, want %d", d, tc.wantDropped)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			defer cancel()
			if _, err := s.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Next on empty slot: %v", err)
			}
		})
	}
}

func TestStalledSubscriberDoesNotBlockOthers(t *testing.T) {
	h := New[int, int](0)
	stalled, _ := h.Subscribe(0) // never reads
	defer stalled.Close()
	fast, _ := h.Subscribe(0)
	defer fast.Close()
	const n = 1000
	var got []int
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			v, err := fast.Next(context.Background())
			if err != nil {
				return
			}
			got = append(got, v)
			if v == n {
				return
			}
		}
	}()
	for i := 1; i <= n; i++ {
		h.Publish(i)
		if i%10 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	wg.Wait()
	if len(got) == 0 || got[len(got)-1] != n {
		t.Fatalf("fast subscriber did not get the last value: %v", got)
	}
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] {
			t.Fatalf("out of order: %v", got)
		}
	}
	if uint64(len(got))+fast.Dropped() != n {
		t.Fatalf("received %d + dropped %d != published %d", len(got), fast.Dropped(), n)
	}
	if stalled.Dropped() != n-1 {
		t.Fatalf("stalled dropped = %d, want %d", stalled.Dropped(), n-1)
	}
}

func TestCloseWakesWaiters(t *testing.T) {
	h := New[int, int](0)
	s, _ := h.Subscribe(1)
	errc := make(chan error)
	go func() { _, err := s.Next(context.Background()); errc <- err }()
	time.Sleep(10 * time.Millisecond)
	h.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("err = %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Next did not return after Close")
	}
	if _, err := h.Subscribe(1); !errors.Is(err, ErrClosed) {
		t.Fatalf("subscribe after close: %v", err)
	}
	select {
	case <-s.Done():
	default:
		t.Fatal("Done not closed")
	}
	s.Close() // after hub close: no panic
}

func TestLatest(t *testing.T) {
	h := New[int, string](0)
	if _, ok := h.Latest(); ok {
		t.Fatal("latest before publish")
	}
	h.Publish("a")
	h.Publish("b")
	if v, ok := h.Latest(); !ok || v != "b" {
		t.Fatalf("latest = %q %v", v, ok)
	}
}

func BenchmarkPublish50(b *testing.B) {
	h := New[int, *int](0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		s, _ := h.Subscribe(0)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if _, err := s.Next(ctx); err != nil {
					return
				}
			}
		}()
	}
	v := new(int)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h.Publish(v)
	}
	b.StopTimer()
	h.Close()
	wg.Wait()
}

func TestNextOrTimer(t *testing.T) {
	h := New[int, int](0)
	s, _ := h.Subscribe(0)
	defer s.Close()
	if _, err := s.NextOrTimer(context.Background(), time.After(10*time.Millisecond)); !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	h.Publish(7)
	if v, err := s.NextOrTimer(context.Background(), time.After(time.Second)); err != nil || v != 7 {
		t.Fatalf("got %d, %v", v, err)
	}
}

func TestSubscribeLimited(t *testing.T) {
	h := New[int, int](0)
	var subs []*Sub[int, int]
	for key := 1; key <= 5; key++ {
		s, err := h.SubscribeLimited(key, 1, 3)
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, s)
	}
	got := []int{}
	for _, s := range subs {
		got = append(got, s.Key())
	}
	if want := []int{1, 2, 3, 1, 1}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("keys %v, want %v", got, want)
	}
	subs[2].Close() // key 3 leaves: room for another
	if s, _ := h.SubscribeLimited(9, 1, 3); s.Key() != 9 {
		t.Fatalf("key %d, want 9", s.Key())
	}
}

// Waiting tells a publisher whether a subscriber is blocked for a value, and wakes it when one starts to be.
func TestWaiting(t *testing.T) {
	h := New[int, int](0)
	if h.Waiting(false) == nil {
		t.Fatal("no subscriber, yet Waiting says one waits")
	}
	s, _ := h.Subscribe(0)
	defer s.Close()
	ch := h.Waiting(false)
	if ch == nil {
		t.Fatal("a subscriber that is not in Next counts as waiting")
	}
	got := make(chan int)
	go func() {
		v, err := s.Next(context.Background())
		if err != nil {
			t.Error(err)
		}
		got <- v
	}()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("no signal when the subscriber started waiting")
	}
	for h.Waiting(false) != nil { // the signal comes just before the subscriber blocks
		time.Sleep(time.Millisecond)
	}
	h.Publish(1)
	if h.Waiting(false) == nil {
		t.Fatal("the subscriber was just given a value, yet Waiting says it still waits")
	}
	if v := <-got; v != 1 {
		t.Fatalf("got %d", v)
	}
	if h.Waiting(false) == nil {
		t.Fatal("the subscriber took its value and is no longer waiting, yet Waiting says it is")
	}
	h.Publish(2) // the slot is full: nobody waits
	if h.Waiting(false) == nil {
		t.Fatal("a subscriber with a full slot counts as waiting")
	}
}

// Waiting(true) wants a value whenever a subscriber's slot is empty: made ahead, it is there when asked for.
func TestWaitingAhead(t *testing.T) {
	h := New[int, int](0)
	if h.Waiting(true) == nil {
		t.Fatal("no subscriber, yet a value is wanted")
	}
	s, _ := h.Subscribe(0)
	if h.Waiting(true) != nil {
		t.Fatal("a new subscriber's slot is empty, yet no value is wanted")
	}
	h.Publish(1)
	ch := h.Waiting(true)
	if ch == nil {
		t.Fatal("the only slot is full, yet a value is wanted")
	}
	if v, err := s.Next(context.Background()); err != nil || v != 1 {
		t.Fatalf("got %d, %v", v, err)
	}
	select {
	case <-ch:
	default:
		t.Fatal("taking the value did not signal")
	}
	if h.Waiting(true) != nil {
		t.Fatal("the slot was emptied, yet no value is wanted")
	}
	// A subscriber blocked in Next takes a value at once: the next one is wanted ahead right after Publish.
	got := make(chan int)
	go func() {
		v, _ := s.Next(context.Background())
		got <- v
	}()
	for h.Waiting(false) != nil {
		time.Sleep(time.Millisecond)
	}
	h.Publish(3)
	if h.Waiting(true) != nil {
		t.Fatal("the value went to a waiting subscriber, yet the next one is not wanted ahead")
	}
	if v := <-got; v != 3 {
		t.Fatalf("got %d", v)
	}
	s.Close()
	if h.Waiting(true) == nil {
		t.Fatal("the only subscriber left, yet a value is wanted")
	}
	h.Close()
	h.Publish(2)
	if h.Waiting(true) == nil {
		t.Fatal("a closed hub wants values")
	}
}
