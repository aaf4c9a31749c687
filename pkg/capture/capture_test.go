package capture

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gocv.io/x/gocv"
)

func TestDescribe(t *testing.T) {
	tests := []struct{ spec, want string }{
		{"testpattern", "test pattern"},
		{"TestPattern", "test pattern"},
		{"0", "V4L2 device /dev/video0"},
		{"12", "V4L2 device /dev/video12"},
		{"/dev/video2", "V4L2 device /dev/video2"},
		{"/dev/v4l/by-id/usb-cam-video-index0", "V4L2 device /dev/v4l/by-id/usb-cam-video-index0"},
		{"rtsp://cam.local:554/stream1", "URL rtsp://cam.local:554/stream1"},
		{"rtsp://admin:hunter2@cam.local:554/stream1", "URL rtsp://cam.local:554/stream1"},
		{"http://admin@10.0.0.5/video.mjpg", "URL http://10.0.0.5/video.mjpg"},
		{"https://u:p@example.com/live?password=hunter2&res=hd", "URL https://example.com/live?password=REDACTED&res=hd"},
		{"http://example.com/cgi?user=a&token=abc", "URL http://example.com/cgi?token=REDACTED&user=a"},
		// Does not parse (bad escape in the userinfo): cut by hand.
		{"rtsp://us%zz:hunter2@cam.local/path?key=x", "URL rtsp://cam.local/path"},
		{"video.avi", "file video.avi"},
		{"/srv/clips/a b.mp4", "file /srv/clips/a b.mp4"},
		{"C:/x.avi", "file C:/x.avi"},
		{"-1", "file -1"},
	}
	for _, tc := range tests {
		t.Run(tc.spec, func(t *testing.T) {
			got := Describe(tc.spec)
			if got != tc.want {
				t.Fatalf("Describe(%q) = %q, want %q", tc.spec, got, tc.want)
			}
			if strings.Contains(got, "hunter2") {
				t.Fatalf("Describe leaks a password: %q", got)
			}
		})
	}
}

func TestFourcc(t *testing.T) {
	var vc gocv.VideoCapture // ToCodec does not touch the capture
	for _, s := range []string{"MJPG", "YUYV", "avc1", "mjpe"} {
		if got := fourcc(s); got != vc.ToCodec(s) {
			t.Errorf("fourcc(%q) = %v, gocv says %v", s, got, vc.ToCodec(s))
		}
		if got := fourccString(fourcc(s)); got != s {
			t.Errorf("round trip of %q gives %q", s, got)
		}
	}
	if fourccString(0) != "" || fourccString(-1) != "" {
		t.Error("no FOURCC must decode to empty")
	}
	for s, want := range map[string]bool{"MJPG": true, "mjpg": true, "mjpe": true, "FMP4": false, "avc1": false, "": false} {
		if isMJPEG(s) != want {
			t.Errorf("isMJPEG(%q) = %v", s, !want)
		}
	}
}

// No camera and no V4L2 here: devices must fail cleanly, with a message
// that names the device, and leak nothing.
func TestOpenDeviceFails(t *testing.T) {
	for _, spec := range []string{"/dev/video0", "7", "/dev/v4l/by-id/no-such-camera"} {
		for _, want := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/WantJPEG=%v", spec, want), func(t *testing.T) {
				checkMats(t)
				log, _ := testLogger(t)
				src, err := Open(spec, Options{Width: 1280, Height: 720, FPS: 30, WantJPEG: want}, log)
				if err == nil {
					src.Close()
					t.Skip("a V4L2 device exists on this machine")
				}
				if src != nil {
					t.Fatal("a source returned with an error")
				}
				if !errors.Is(err, ErrOpen) {
					t.Fatalf("err = %v, want ErrOpen", err)
				}
				if !strings.Contains(err.Error(), Describe(spec)) {
					t.Fatalf("error %q does not name %q", err, Describe(spec))
				}
				t.Log(err)
			})
		}
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "notes.avi")
	if err := os.WriteFile(text, []byte("this is not a video\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.avi")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, spec string
		want       []error // any of
	}{
		{"missing file", filepath.Join(dir, "missing.avi"), []error{ErrOpen}},
		{"text file", text, []error{ErrOpen, ErrNoFrames}},
		{"empty file", empty, []error{ErrOpen, ErrNoFrames}},
		{"refused RTSP with credentials", "rtsp://admin:hunter2@127.0.0.1:1/stream", []error{ErrOpen}},
		{"refused HTTP with credentials", "http://admin:hunter2@127.0.0.1:1/video.mjpg", []error{ErrOpen}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkMats(t)
			log, _ := testLogger(t)
			src, err := Open(tc.spec, Options{WantJPEG: true}, log)
			if err == nil {
				src.Close()
				t.Fatal("Open succeeded")
			}
			ok := false
			for _, w := range tc.want {
				ok = ok || errors.Is(err, w)
			}
			if !ok {
				t.Fatalf("err = %v, want one of %v", err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("error leaks the password: %v", err)
			}
			if !strings.Contains(err.Error(), Describe(tc.spec)) {
				t.Fatalf("error %q does not name %q", err, Describe(tc.spec))
			}
			t.Log(err)
		})
	}
}
