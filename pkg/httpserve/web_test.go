package httpserve

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/camstream/camstream/pkg/auth"
)

func TestIndexPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	code, h, body := get(t, nil, e.url+"/")
	if code != 200 || h.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("GET /: %d %v", code, h)
	}
	if h.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("Referrer-Policy %q", h.Get("Referrer-Policy"))
	}
	// The policy allows exactly the page's inline script and style.
	csp := h.Get("Content-Security-Policy")
	for _, tag := range []string{"script", "style"} {
		m := regexp.MustCompile(`(?s)<` + tag + `>(.*?)</` + tag + `>`).FindSubmatch(body)
		if m == nil {
			t.Fatalf("no <%s> in the page", tag)
		}
		sum := sha256.Sum256(m[1])
		if want := tag + "-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	page := string(body)
	for _, want := range []string{`name="viewport"`, `stream.mjpg`, `api/status`, `NO SIGNAL`, `token`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// Self-contained: nothing loaded from elsewhere (no CDN, no web fonts).
	for _, bad := range []string{"http://", "https://", "//cdn", "@import", "@font-face", "<link rel=\"stylesheet\"", "<script src"} {
		if strings.Contains(page, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
}

// pictureShare returns the share of the pixels of img that have the test picture's colour (JPEG-blurred).
func pictureShare(img image.Image) float64 {
	b := img.Bounds()
	n := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if near(r>>8, uint32(picColor.R)) && near(g>>8, uint32(picColor.G)) && near(bl>>8, uint32(picColor.B)) {
				n++
			}
		}
	}
	return float64(n) / float64(b.Dx()*b.Dy())
}

func near(a, b uint32) bool { return a+30 >= b && a <= b+30 }

// screenshot renders url with headless Chromium and returns the PNG.
func screenshot(t *testing.T, url string, width, height int) image.Image {
	t.Helper()
	chromium := tool(t, "chromium", "chromium-browser", "google-chrome")
	dir := t.TempDir()
	out := filepath.Join(dir, "shot.png")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// The screenshot is taken once the page has loaded: the <img> counts as loaded at the stream's first
	// picture, so the never-ending multipart response does not hold it up.
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
		"--disable-dev-shm-usage", "--hide-scrollbars", "--user-data-dir="+filepath.Join(dir, "profile"),
		"--screenshot="+out, "--window-size="+strconv.Itoa(width)+","+strconv.Itoa(height), url)
	cmd.WaitDelay = 5 * time.Second
	var outBuf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &outBuf, &outBuf
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, outBuf.String())
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatalf("no screenshot: %v\n%s", err, outBuf.String())
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if keep := os.Getenv("HTTPSERVE_SCREENSHOT"); keep != "" {
		b, _ := os.ReadFile(out)
		if err := os.WriteFile(keep, b, 0o644); err != nil {
			t.Error(err)
		}
	}
	return img
}

// Headless Chromium opens the web viewer (with the token in the page's URL, which the page must pass on to the
// stream) and shows the live picture, not a broken-image icon.
func TestChromiumShowsStream(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.Token = auth.Token(testToken) })
	e.publish()
	img := screenshot(t, e.url+"/?token="+testToken, 1280, 900)
	share := pictureShare(img)
	t.Logf("screenshot %v: %.0f%% test picture", img.Bounds().Size(), 100*share)
	// The picture fills the width of the stage: well over a third of the window.
	if share < 0.3 {
		t.Errorf("the test picture covers %.1f%% of the screenshot, want > 30%% (stream not shown?)", 100*share)
	}
	if strings.Contains(e.logs.String(), "request refused") {
		t.Errorf("the page's requests were refused (token not passed on):\n%s", e.logs.String())
	}
}
