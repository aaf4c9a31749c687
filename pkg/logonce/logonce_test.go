package logonce

import (
	"fmt"
	"testing"
	"time"
)

func TestAllow(t *testing.T) {
	clock := time.Unix(0, 0)
	l := New(time.Minute)
	l.now = func() time.Time { return clock }
	steps := []struct {
		advance time.Duration
		key     string
		want    bool
	}{
		{0, "a", true},
		{time.Second, "a", false},
		{0, "b", true},
		{30 * time.Second, "a", false},
		{31 * time.Second, "a", true}, // a minute after the last logged one: once per minute while it goes on
		{time.Second, "a", false},
		{time.Second, "b", true},
	}
	for i, s := range steps {
		clock = clock.Add(s.advance)
		if got := l.Allow(s.key); got != s.want {
			t.Fatalf("step %d: Allow(%q) = %v, want %v", i, s.key, got, s.want)
		}
	}
}

func TestBoundedMemory(t *testing.T) {
	l := New(time.Minute)
	for i := 0; i < 3*maxKeys; i++ {
		l.Allow(fmt.Sprint("10.0.", i/256, ".", i%256))
	}
	if n := len(l.last); n > maxKeys {
		t.Fatalf("%d keys kept, limit %d", n, maxKeys)
	}
}
