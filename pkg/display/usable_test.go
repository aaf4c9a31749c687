package display

import (
	"crypto/rand"
	"encoding/binary"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/camstream/camstream/pkg/display/xtest"
)

func envOf(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func TestUsableNothingSet(t *testing.T) {
	err := Usable(envOf(nil))
	if err == nil {
		t.Fatal("no DISPLAY and no WAYLAND_DISPLAY: Usable = nil")
	}
	t.Log(err)
	for _, want := range []string{"DISPLAY is not set", "WAYLAND_DISPLAY is not set",
		"-e DISPLAY -v /tmp/.X11-unix:/tmp/.X11-unix", "xhost +local:", "XDG_RUNTIME_DIR", "QT_QPA_PLATFORM=wayland"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q", want)
		}
	}
}

func TestUsableX11(t *testing.T) {
	x := needX(t)
	if err := Usable(envOf(map[string]string{"DISPLAY": x.Display})); err != nil {
		t.Errorf("DISPLAY=%s of the running Xvfb: %v", x.Display, err)
	}
	if err := Usable(envOf(map[string]string{"DISPLAY": "unix" + x.Display + ".0"})); err != nil {
		t.Errorf("DISPLAY=unix%s.0: %v", x.Display, err)
	}
	// A display number nobody serves.
	free := x.Number + 1
	for ; ; free++ {
		if _, err := os.Stat(filepathX(free)); os.IsNotExist(err) {
			break
		}
	}
	for _, d := range []string{":99x", ":" + strconv.Itoa(free), "nohost.invalid:0", "tcp/localhost:" + strconv.Itoa(free), ""} {
		env := map[string]string{"DISPLAY": d}
		err := Usable(envOf(env))
		if err == nil {
			t.Errorf("DISPLAY=%q: Usable = nil", d)
			continue
		}
		t.Logf("DISPLAY=%q: %v", d, err)
		if d != "" && !strings.Contains(err.Error(), "DISPLAY="+d) {
			t.Errorf("error does not say which DISPLAY was tried")
		}
	}
	err := Usable(envOf(map[string]string{"DISPLAY": ":" + strconv.Itoa(free)}))
	if err == nil || !strings.Contains(err.Error(), filepathX(free)) {
		t.Errorf("error %v does not name the socket %s", err, filepathX(free))
	}
}

func filepathX(n int) string { return "/tmp/.X11-unix/X" + strconv.Itoa(n) }

// TestUsableX11Auth runs an Xvfb that requires a MIT-MAGIC-COOKIE-1: Usable must present the cookie from
// XAUTHORITY, and report the server's refusal when it has none.
func TestUsableX11Auth(t *testing.T) {
	xtest.Require(t)
	dir := t.TempDir()
	cookie := make([]byte, 16)
	rand.Read(cookie)
	good := writeXauth(t, filepath.Join(dir, "good"), cookie)
	bad := writeXauth(t, filepath.Join(dir, "bad"), make([]byte, 16))
	x, err := xtest.Start("-auth", good)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Stop()
	if err := Usable(envOf(map[string]string{"DISPLAY": x.Display, "XAUTHORITY": good})); err != nil {
		t.Errorf("with the right cookie: %v", err)
	}
	for name, env := range map[string]map[string]string{
		"wrong cookie": {"DISPLAY": x.Display, "XAUTHORITY": bad},
		"no cookie":    {"DISPLAY": x.Display, "HOME": dir},
	} {
		err := Usable(envOf(env))
		if err == nil {
			t.Errorf("%s: Usable = nil for a server that requires authorization", name)
			continue
		}
		t.Logf("%s: %v", name, err)
		if !strings.Contains(err.Error(), "refused") {
			t.Errorf("%s: error does not say the server refused", name)
		}
	}
}

// writeXauth writes an .Xauthority file with one wildcard MIT-MAGIC-COOKIE-1 entry.
func writeXauth(t *testing.T, path string, cookie []byte) string {
	var b []byte
	field := func(f []byte) {
		b = binary.BigEndian.AppendUint16(b, uint16(len(f)))
		b = append(b, f...)
	}
	b = binary.BigEndian.AppendUint16(b, familyWild)
	field(nil)
	field(nil)
	field([]byte("MIT-MAGIC-COOKIE-1"))
	field(cookie)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestUsableWayland(t *testing.T) {
	rt := t.TempDir()
	env := map[string]string{"WAYLAND_DISPLAY": "wayland-test", "XDG_RUNTIME_DIR": rt}
	err := Usable(envOf(env))
	if err == nil {
		t.Fatal("missing Wayland socket: Usable = nil")
	}
	t.Log(err)
	if !strings.Contains(err.Error(), filepath.Join(rt, "wayland-test")) {
		t.Errorf("error does not name the socket path")
	}
	l, err := net.Listen("unix", filepath.Join(rt, "wayland-test"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	if err := Usable(envOf(env)); err != nil {
		t.Errorf("listening socket in XDG_RUNTIME_DIR: %v", err)
	}
	if err := Usable(envOf(map[string]string{"WAYLAND_DISPLAY": filepath.Join(rt, "wayland-test")})); err != nil {
		t.Errorf("absolute WAYLAND_DISPLAY: %v", err)
	}
	if err := Usable(envOf(map[string]string{"WAYLAND_DISPLAY": "wayland-test"})); err == nil ||
		!strings.Contains(err.Error(), "XDG_RUNTIME_DIR") {
		t.Errorf("no XDG_RUNTIME_DIR: %v", err)
	}
	// An unreachable X display does not hide a working Wayland one.
	env["DISPLAY"] = ":99x"
	if err := Usable(envOf(env)); err != nil {
		t.Errorf("bad DISPLAY but good Wayland: %v", err)
	}
}

func TestPrepareQt(t *testing.T) {
	set := map[string]string{}
	setenv := func(k, v string) error { set[k] = v; return nil }
	if err := prepareQt(envOf(map[string]string{"DISPLAY": ":0", "WAYLAND_DISPLAY": "w", "LANG": "en_GB.UTF-8"}), setenv); err != nil || len(set) != 0 {
		t.Errorf("with DISPLAY: err %v, set %v; want X11 left alone", err, set)
	}
	// No UTF-8 locale: Qt gets one for the character type (window titles).
	for _, c := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"DISPLAY": ":0"}, "C.UTF-8"},
		{map[string]string{"DISPLAY": ":0", "LANG": "C"}, "C.UTF-8"},
		{map[string]string{"DISPLAY": ":0", "LANG": "de_DE.utf8"}, ""},
		{map[string]string{"DISPLAY": ":0", "LC_CTYPE": "C.UTF-8"}, ""},
		{map[string]string{"DISPLAY": ":0", "LC_ALL": "C", "LANG": "C.UTF-8"}, ""}, // LC_ALL would override it anyway
	} {
		set = map[string]string{}
		if err := prepareQt(envOf(c.env), setenv); err != nil || set["LC_CTYPE"] != c.want {
			t.Errorf("%v: LC_CTYPE set to %q (err %v), want %q", c.env, set["LC_CTYPE"], err, c.want)
		}
	}
	set = map[string]string{}
	err := prepareQt(envOf(map[string]string{"WAYLAND_DISPLAY": "w", "LANG": "C.UTF-8"}), setenv)
	if set["QT_QPA_PLATFORM"] != "wayland" {
		t.Errorf("Wayland only: QT_QPA_PLATFORM not set to wayland (set %v)", set)
	}
	plugins, _ := filepath.Glob("/usr/lib/*/qt5/plugins/platforms/libqwayland-*.so")
	switch {
	case len(plugins) == 0 && err == nil:
		t.Error("no Qt Wayland plugin installed, but prepareQt did not say so")
	case len(plugins) == 0:
		t.Log(err)
		if !strings.Contains(err.Error(), "qtwayland5") {
			t.Errorf("error does not name the package to install: %v", err)
		}
	case err != nil:
		t.Errorf("Qt Wayland plugin installed (%v), but: %v", plugins, err)
	}
}

func TestParseDisplay(t *testing.T) {
	for in, want := range map[string]xDisplay{
		":0":                    {number: 0},
		":1.0":                  {number: 1},
		"unix:2":                {host: "unix", number: 2},
		"localhost:10.0":        {host: "localhost", number: 10},
		"tcp/example.org:3":     {protocol: "tcp", host: "example.org", number: 3},
		"[::1]:4":               {host: "[::1]", number: 4},
		"/tmp/launch-x/org:0":   {host: "/tmp/launch-x/org", number: 0},
		"unix/:7":               {protocol: "unix", number: 7},
		"inet6/ip6-localhost:5": {protocol: "inet6", host: "ip6-localhost", number: 5},
	} {
		got, err := parseDisplay(in)
		if err != nil || got != want {
			t.Errorf("parseDisplay(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "0", ":", ":99x", ":-1", ":1.x", "host::0", "foo/bar:0", ":99999"} {
		if d, err := parseDisplay(bad); err == nil {
			t.Errorf("parseDisplay(%q) = %+v, want an error", bad, d)
		}
	}
}

func TestParseXauthority(t *testing.T) {
	var b []byte
	field := func(f string) {
		b = binary.BigEndian.AppendUint16(b, uint16(len(f)))
		b = append(b, f...)
	}
	b = binary.BigEndian.AppendUint16(b, familyLocal)
	field("box")
	field("0")
	field("MIT-MAGIC-COOKIE-1")
	field("0123456789abcdef")
	b = append(b, 0, 1, 0) // truncated tail
	es := parseXauthority(b)
	if len(es) != 1 || es[0].family != familyLocal || string(es[0].address) != "box" ||
		string(es[0].number) != "0" || es[0].name != "MIT-MAGIC-COOKIE-1" || len(es[0].data) != 16 {
		t.Errorf("parseXauthority = %+v", es)
	}
}

// TestUsableDuringServerReset probes a display over and over: an X server resets each time its last client
// leaves and drops the connections that arrive meanwhile, which Usable must ride out.
func TestUsableDuringServerReset(t *testing.T) {
	xtest.Require(t)
	x, err := xtest.Start() // no other client: every probe's disconnection resets it
	if err != nil {
		t.Fatal(err)
	}
	defer x.Stop()
	env := envOf(map[string]string{"DISPLAY": x.Display})
	for i := range 40 {
		if err := Usable(env); err != nil {
			t.Fatalf("probe %d: %v", i, err)
		}
	}
}
