package display

/*
#cgo !windows pkg-config: opencv4
#cgo CXXFLAGS: --std=c++11
#include <stdlib.h>
#include "highgui_shim.h"
*/
import "C"

import (
	"errors"
	"runtime"
	"unsafe"

	"gocv.io/x/gocv"
)

// highgui window flags and properties (opencv2/highgui.hpp).
const (
	cvWindowNormal    = 0x00000000 // the user can resize the window
	cvWindowKeepRatio = 0x00000000 // the image keeps its aspect ratio when the window is resized
	cvWindowGUINormal = 0x00000010 // no Qt toolbar nor status bar

	cvPropAspectRatio = 2
	cvPropVisible     = 4
)

// window is a highgui window driven through package display's own wrappers rather than gocv.Window, because
// gocv v0.31's NewWindow always passes flags 0 (Qt then adds a toolbar and a status bar around the picture), its
// WaitKey masks key codes to 8 bits (the left arrow, 0xff51, reads as 'Q'), and none of its calls catch C++
// exceptions: an OpenCV error in any of them (e.g. cv::getWindowProperty on a destroyed window, checked with
// OpenCV 4.6's Qt backend) aborts the whole process with "terminate called after throwing cv::Exception".
type window struct {
	name  string
	cname *C.char
}

func cvErr(msg *C.char) error {
	if msg == nil {
		return nil
	}
	defer C.free(unsafe.Pointer(msg))
	return errors.New(C.GoString(msg))
}

// openWindow creates the window; it locks the calling goroutine to its OS thread until close.
func openWindow(name string, flags int) (*window, error) {
	runtime.LockOSThread()
	w := &window{name: name, cname: C.CString(name)}
	if err := cvErr(C.cs_named_window(w.cname, C.int(flags))); err != nil {
		C.free(unsafe.Pointer(w.cname))
		runtime.UnlockOSThread()
		return nil, err
	}
	return w, nil
}

func (w *window) show(m gocv.Mat) error {
	err := cvErr(C.cs_imshow(w.cname, unsafe.Pointer(m.Ptr())))
	runtime.KeepAlive(m)
	return err
}

func (w *window) property(prop int) (float64, error) {
	var v C.double
	err := cvErr(C.cs_get_window_property(w.cname, C.int(prop), &v))
	return float64(v), err
}

func (w *window) setProperty(prop int, value float64) error {
	return cvErr(C.cs_set_window_property(w.cname, C.int(prop), C.double(value)))
}

func (w *window) resize(width, height int) error {
	return cvErr(C.cs_resize_window(w.cname, C.int(width), C.int(height)))
}

// close destroys the window, lets the GUI process the destruction and unlocks the OS thread.
func (w *window) close() error {
	err := cvErr(C.cs_destroy_window(w.cname))
	for range 3 {
		if _, e := waitKey(1); e != nil {
			break
		}
	}
	C.free(unsafe.Pointer(w.cname))
	runtime.UnlockOSThread()
	return err
}

// waitKey processes GUI events for up to ms milliseconds and returns the full key code (cv::waitKeyEx),
// -1 for none.
func waitKey(ms int) (int, error) {
	var k C.int
	err := cvErr(C.cs_wait_key_ex(C.int(ms), &k))
	return int(k), err
}
