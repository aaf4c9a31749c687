package display

import (
	"context"

	orun "github.com/oklog/run"
)

// RunGroup runs g with a window showing slot, for a program whose parts are oklog/run actors. The window loop
// cannot be an actor (actors run on other goroutines and Qt needs the main thread), so RunGroup runs the group on
// a goroutine and the window here, on the caller's goroutine, which must be the locked main OS thread. They stop
// together: the group ending closes the window and, when windowEndsGroup, the window closing (ErrQuit or a
// failure) interrupts the group; otherwise the group runs on without a window. It returns the group's error and
// the window's.
func RunGroup(g *orun.Group, slot *Slot, opt Options, windowEndsGroup bool) (groupErr, windowErr error) {
	winCtx, closeWindow := context.WithCancel(context.Background())
	defer closeWindow()
	closed := make(chan struct{})
	g.Add(func() error {
		select {
		case <-closed:
			if windowEndsGroup {
				return windowErr // written before closed is closed
			}
			<-winCtx.Done()
			return nil
		case <-winCtx.Done():
			return nil
		}
	}, func(error) { closeWindow() })
	done := make(chan error, 1)
	go func() { done <- g.Run() }()
	windowErr = Run(winCtx, slot, opt)
	slot.Close() // nothing will show frames any more
	close(closed)
	return <-done, windowErr
}
