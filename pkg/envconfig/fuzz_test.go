package envconfig

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

// fuzzConfig has a field of every kind the programs' configs use, with the same kinds of limits.
type fuzzConfig struct {
	Source  string        `env:"F_SOURCE" envDefault:"/dev/video0" help:"a string without limits"`
	Width   int           `env:"F_WIDTH" envDefault:"1280" min:"16" max:"7680" help:"an int with both limits"`
	FPS     float64       `env:"F_FPS" envDefault:"30" min:"0" max:"240" help:"a float with both limits"`
	Quality int           `env:"F_QUALITY" envDefault:"0" min:"0" max:"100" help:"an int from 0"`
	Mirror  bool          `env:"F_MIRROR" envDefault:"false" help:"a bool"`
	Mode    string        `env:"F_MODE" envDefault:"auto" oneof:"auto|off" help:"one of two"`
	Timeout time.Duration `env:"F_TIMEOUT" envDefault:"5s" min:"100ms" max:"1m" help:"a duration with both limits"`
	Every   time.Duration `env:"F_EVERY" envDefault:"5s" min:"100ms" help:"a duration with a minimum"`
	Port    uint16        `env:"F_PORT" envDefault:"8485" min:"1" help:"an unsigned int"`
	Token   string        `env:"F_TOKEN" help:"a string without default"`
}

// fuzzVars are the variables of fuzzConfig, in the order of FuzzLoad's arguments.
var fuzzVars = []string{"F_SOURCE", "F_WIDTH", "F_FPS", "F_QUALITY", "F_MIRROR", "F_MODE", "F_TIMEOUT", "F_EVERY", "F_PORT", "F_TOKEN"}

// FuzzLoad loads arbitrary values (each variable set or not, by the bits of unset) into a config and checks that
// Load never panics, that every error is an Errors whose entries name a variable that was set (a default is never
// invalid), that a variable named in no error is valid on its own, and that a config loaded without error has
// every value within its limits.
func FuzzLoad(f *testing.F) {
	f.Add("/dev/video0", "1280", "30", "0", "false", "auto", "5s", "5s", "8485", "", uint16(0))
	f.Add("", "", "", "", "", "", "", "", "", "", uint16(0xffff))
	f.Add("x", "15", "240.0001", "101", "yes", "xml", "99ms", "1ms", "0", "s3cret", uint16(0))
	f.Add("x", "7681", "240.5", "-1", "TRUE", "AUTO", "1m0.000000001s", "-5s", "65536", "", uint16(0))
	f.Add("x", "0x10", "Inf", "1e2", "1", "Off", "5", "1h", "-1", "", uint16(0))
	f.Add("x", "99999999999999999999", "1e309", " 30", "t", " auto", "9999999999999h", "0", "1", "", uint16(0))
	f.Fuzz(func(t *testing.T, source, width, fps, quality, mirror, mode, timeout, every, port, token string, unset uint16) {
		values := []string{source, width, fps, quality, mirror, mode, timeout, every, port, token}
		environ := map[string]string{}
		for i, v := range fuzzVars {
			if unset&(1<<i) == 0 {
				environ[v] = values[i]
			}
		}
		var c fuzzConfig
		err := Load(&c, environ)
		if err == nil {
			checkWithinLimits(t, c)
			return
		}
		var errs Errors
		if !errors.As(err, &errs) || len(errs) == 0 {
			t.Fatalf("Load(%q) = %v (%T), want Errors naming the variables", environ, err, err)
		}
		named := map[string]bool{}
		for _, e := range errs {
			if _, set := environ[e.Var]; !set {
				t.Errorf("error %q names %s, which was not set (its default is invalid?)", e, e.Var)
			}
			if !strings.Contains(e.Error(), "invalid "+e.Var+"=") {
				t.Errorf("error %q does not name %s", e, e.Var)
			}
			if named[e.Var] {
				t.Errorf("%s named twice in %q", e.Var, err)
			}
			named[e.Var] = true
		}
		// Every invalid variable is reported, not only the first: one that is not named loads on its own.
		for v, val := range environ {
			if named[v] {
				continue
			}
			var alone fuzzConfig
			if err := Load(&alone, map[string]string{v: val}); err != nil {
				t.Errorf("%s=%q is invalid on its own (%v) but Load(%q) did not name it: %v", v, val, err, environ, err)
			} else {
				checkWithinLimits(t, alone)
			}
		}
	})
}

func checkWithinLimits(t *testing.T, c fuzzConfig) {
	t.Helper()
	if c.Width < 16 || c.Width > 7680 {
		t.Errorf("F_WIDTH = %d accepted, want 16..7680", c.Width)
	}
	if !(c.FPS >= 0 && c.FPS <= 240) || math.IsNaN(c.FPS) {
		t.Errorf("F_FPS = %v accepted, want 0..240", c.FPS)
	}
	if c.Quality < 0 || c.Quality > 100 {
		t.Errorf("F_QUALITY = %d accepted, want 0..100", c.Quality)
	}
	if !strings.EqualFold(c.Mode, "auto") && !strings.EqualFold(c.Mode, "off") {
		t.Errorf("F_MODE = %q accepted, want auto or off", c.Mode)
	}
	if c.Timeout < 100*time.Millisecond || c.Timeout > time.Minute {
		t.Errorf("F_TIMEOUT = %v accepted, want 100ms..1m", c.Timeout)
	}
	if c.Every < 100*time.Millisecond {
		t.Errorf("F_EVERY = %v accepted, want >= 100ms", c.Every)
	}
	if c.Port < 1 {
		t.Errorf("F_PORT = %d accepted, want >= 1", c.Port)
	}
}
