// Command floor measures what OpenCV itself spends per frame, in one process and on one goroutine, on the
// calls the camstream server and viewer make: reading a clip (FFmpeg backend, decoded to BGR, as with
// CAPTURE_PASSTHROUGH=off), reading its raw JPEG packets (VideoCaptureFormat -1, as with passthrough), encoding
// BGR to JPEG (IMEncodeWithParams) and decoding JPEG to BGR (IMDecode), back to back, then encoding and decoding
// once every 1/30 s as a paced server and viewer do. It prints one JSON object on stdout.
//
// Usage: floor -clip clip.avi [-n 300] [-quality 80]
//
// Wall time is measured around each call; CPU time is the process's utime+stime (getrusage) over each stage
// divided by its frames, so threads OpenCV or FFmpeg start on their own are counted too.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"syscall"
	"time"

	"gocv.io/x/gocv"
)

// stage is the result of one measured stage.
type stage struct {
	Frames    int     `json:"frames"`
	WallP50ms float64 `json:"wall_p50_ms"`
	WallMean  float64 `json:"wall_mean_ms"`
	WallP99ms float64 `json:"wall_p99_ms"`
	CPUms     float64 `json:"cpu_ms_per_frame"`
	Bytes     float64 `json:"bytes_per_frame,omitempty"`
}

type result struct {
	Clip    string `json:"clip"`
	Quality int    `json:"quality"`
	Width   int    `json:"width"`
	Height  int    `json:"height"`
	// Read: VideoCapture.Read decoding to BGR. ReadRaw: the MJPEG packets untouched.
	Read    stage `json:"read"`
	ReadRaw stage `json:"read_raw"`
	Encode  stage `json:"encode"`
	Decode  stage `json:"decode"`
	// DecodeSource decodes the clip's own JPEGs (what a viewer decodes with passthrough) instead of OpenCV's.
	DecodeSource stage `json:"decode_source"`
	// ReadPaced, EncodePaced and DecodePaced are the same calls made once every 1/30 s, as a paced server and
	// viewer make them: the CPU idles between calls (caches and branch predictors cool down, the vCPU halts).
	// ReadPaced's CPU is the process's over the whole stage (FFmpeg's threads may work between calls).
	ReadPaced   stage `json:"read_paced"`
	EncodePaced stage `json:"encode_paced"`
	DecodePaced stage `json:"decode_paced"`
}

func cpuNow() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// summarise turns per-call wall times and the stage's CPU time into a stage.
func summarise(walls []time.Duration, cpu time.Duration) stage {
	ms := make([]float64, len(walls))
	sum := 0.0
	for i, w := range walls {
		ms[i] = float64(w) / 1e6
		sum += ms[i]
	}
	slices.Sort(ms)
	pct := func(p float64) float64 {
		i := int(p*float64(len(ms))+0.5) - 1
		return ms[min(max(i, 0), len(ms)-1)]
	}
	return stage{Frames: len(ms), WallP50ms: pct(0.5), WallMean: sum / float64(len(ms)), WallP99ms: pct(0.99),
		CPUms: float64(cpu) / 1e6 / float64(len(ms))}
}

func open(clip string, raw bool) *gocv.VideoCapture {
	vc, err := gocv.VideoCaptureFileWithAPI(clip, gocv.VideoCaptureFFmpeg)
	if err != nil || !vc.IsOpened() {
		fmt.Fprintf(os.Stderr, "floor: cannot open %s: %v\n", clip, err)
		os.Exit(1)
	}
	if raw {
		vc.Set(gocv.VideoCaptureFormat, -1)
		if vc.Get(gocv.VideoCaptureFormat) != -1 {
			fmt.Fprintln(os.Stderr, "floor: the FFmpeg backend refused raw packets")
			os.Exit(1)
		}
	}
	return vc
}

// readPaced reads n frames decoded to BGR, one every tick.
func readPaced(clip string, n int, tick time.Duration) stage {
	vc := open(clip, false)
	defer vc.Close()
	m := gocv.NewMat()
	defer m.Close()
	walls := make([]time.Duration, 0, n)
	next := time.Now()
	cpu0 := cpuNow()
	for len(walls) < n {
		next = next.Add(tick)
		time.Sleep(time.Until(next))
		t := time.Now()
		if !vc.Read(&m) || m.Empty() {
			fmt.Fprintln(os.Stderr, "floor: paced read failed")
			os.Exit(1)
		}
		walls = append(walls, time.Since(t))
	}
	return summarise(walls, cpuNow()-cpu0)
}

// read reads n frames (rewinding at the end of the clip) and keeps clones of the first keep of them.
func read(clip string, raw bool, n, keep int) (stage, []gocv.Mat) {
	vc := open(clip, raw)
	defer vc.Close()
	m := gocv.NewMat()
	defer m.Close()
	var kept []gocv.Mat
	walls := make([]time.Duration, 0, n)
	bytes := 0
	cpu0 := cpuNow()
	for len(walls) < n {
		t := time.Now()
		ok := vc.Read(&m)
		w := time.Since(t)
		if !ok || m.Empty() {
			vc.Set(gocv.VideoCapturePosFrames, 0) // the server rewinds the same way; not timed
			continue
		}
		walls = append(walls, w)
		if raw {
			bytes += m.Total()
		}
		if len(kept) < keep {
			kept = append(kept, m.Clone())
		}
	}
	st := summarise(walls, cpuNow()-cpu0)
	if raw {
		st.Bytes = float64(bytes) / float64(n)
	}
	return st, kept
}

func main() {
	clip := flag.String("clip", "", "MJPEG AVI to read")
	n := flag.Int("n", 300, "frames per stage")
	quality := flag.Int("quality", 80, "JPEG quality")
	keep := flag.Int("keep", 30, "distinct frames encoded and decoded (cycled)")
	flag.Parse()
	if *clip == "" {
		fmt.Fprintln(os.Stderr, "floor: -clip is required")
		os.Exit(2)
	}
	runtime.LockOSThread()
	res := result{Clip: *clip, Quality: *quality}

	var frames []gocv.Mat
	res.Read, frames = read(*clip, false, *n, *keep)
	res.Width, res.Height = frames[0].Cols(), frames[0].Rows()
	var raws []gocv.Mat
	res.ReadRaw, raws = read(*clip, true, *n, *keep)

	params := []int{gocv.IMWriteJpegQuality, *quality}
	jpegs := make([][]byte, len(frames))
	walls := make([]time.Duration, 0, *n)
	bytes := 0
	cpu0 := cpuNow()
	for i := 0; i < *n; i++ {
		f := frames[i%len(frames)]
		t := time.Now()
		buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, f, params)
		w := time.Since(t)
		if err != nil || buf.Len() == 0 {
			fmt.Fprintln(os.Stderr, "floor: encode failed")
			os.Exit(1)
		}
		walls = append(walls, w)
		bytes += buf.Len()
		if jpegs[i%len(frames)] == nil {
			jpegs[i%len(frames)] = slices.Clone(buf.GetBytes())
		}
		buf.Close()
	}
	res.Encode = summarise(walls, cpuNow()-cpu0)
	res.Encode.Bytes = float64(bytes) / float64(*n)

	walls = walls[:0]
	cpu0 = cpuNow()
	for i := 0; i < *n; i++ {
		t := time.Now()
		m, err := gocv.IMDecode(jpegs[i%len(jpegs)], gocv.IMReadColor)
		w := time.Since(t)
		if err != nil || m.Empty() {
			fmt.Fprintln(os.Stderr, "floor: decode failed")
			os.Exit(1)
		}
		m.Close()
		walls = append(walls, w)
	}
	res.Decode = summarise(walls, cpuNow()-cpu0)

	walls = walls[:0]
	cpu0 = cpuNow()
	for i := 0; i < *n; i++ {
		b, err := raws[i%len(raws)].DataPtrUint8()
		if err != nil {
			fmt.Fprintln(os.Stderr, "floor: raw frame:", err)
			os.Exit(1)
		}
		t := time.Now()
		m, err := gocv.IMDecode(b, gocv.IMReadColor)
		w := time.Since(t)
		if err != nil || m.Empty() {
			fmt.Fprintln(os.Stderr, "floor: decode of the clip's JPEG failed")
			os.Exit(1)
		}
		m.Close()
		walls = append(walls, w)
	}
	res.DecodeSource = summarise(walls, cpuNow()-cpu0)

	// The same calls at 30 fps.
	tick := time.Second / 30
	paced := *n / 3
	res.ReadPaced = readPaced(*clip, paced, tick)
	next := time.Now()
	walls = walls[:0]
	var cpu time.Duration
	for i := 0; i < paced; i++ {
		next = next.Add(tick)
		time.Sleep(time.Until(next))
		c0, t := cpuNow(), time.Now()
		buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, frames[i%len(frames)], params)
		walls = append(walls, time.Since(t))
		cpu += cpuNow() - c0
		if err != nil || buf.Len() == 0 {
			fmt.Fprintln(os.Stderr, "floor: encode failed")
			os.Exit(1)
		}
		buf.Close()
	}
	res.EncodePaced = summarise(walls, cpu)
	walls, cpu = walls[:0], 0
	for i := 0; i < paced; i++ {
		next = next.Add(tick)
		time.Sleep(time.Until(next))
		c0, t := cpuNow(), time.Now()
		m, err := gocv.IMDecode(jpegs[i%len(jpegs)], gocv.IMReadColor)
		walls = append(walls, time.Since(t))
		cpu += cpuNow() - c0
		if err != nil || m.Empty() {
			fmt.Fprintln(os.Stderr, "floor: decode failed")
			os.Exit(1)
		}
		m.Close()
	}
	res.DecodePaced = summarise(walls, cpu)
	for _, f := range append(frames, raws...) {
		f.Close()
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	enc.Encode(res)
}
