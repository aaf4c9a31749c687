package display

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"gocv.io/x/gocv"
)

// saveSnapshot writes m as a PNG named camstream-YYYYMMDD-HHMMSS.mmm.png (local time) into dir ("" = working
// directory) and returns its absolute path. It never overwrites a file: a name already taken gets a -2, -3…
// suffix. A partly written file (disk full) is removed.
func saveSnapshot(m gocv.Mat, dir string, now time.Time) (string, error) {
	if dir == "" {
		dir = "."
	}
	buf, err := gocv.IMEncode(gocv.PNGFileExt, m)
	if err != nil {
		return "", fmt.Errorf("encode PNG: %w", err)
	}
	defer buf.Close()
	if buf.Len() == 0 { // gocv ignores cv::imencode's result: an empty buffer is the failure
		return "", fmt.Errorf("encode PNG: OpenCV could not encode a %dx%d %s frame", m.Cols(), m.Rows(), m.Type())
	}
	stem := "camstream-" + now.Format("20060102-150405.000")
	var f *os.File
	var path string
	for i := 1; ; i++ {
		name := stem + ".png"
		if i > 1 {
			name = stem + "-" + strconv.Itoa(i) + ".png"
		}
		path = filepath.Join(dir, name)
		f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, fs.ErrExist) && i < 100 {
			continue
		}
		break
	}
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("save snapshot: directory %s does not exist: %w", dir, err)
		}
		return "", fmt.Errorf("save snapshot into %s: %w", dir, err)
	}
	_, werr := f.Write(buf.GetBytes())
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(path)
		return "", fmt.Errorf("save snapshot %s: %w", path, err)
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	return path, nil
}
