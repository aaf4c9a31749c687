package display

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// dialTimeout bounds each connection attempt and the X11 handshake in Usable.
const dialTimeout = 2 * time.Second

// forwardHelp tells how to give a process (typically a container) a display.
const forwardHelp = "to show the viewer window, give the client a display: " +
	"X11: set DISPLAY and share the X socket, e.g. `docker run -e DISPLAY -v /tmp/.X11-unix:/tmp/.X11-unix …`, " +
	"and allow local clients on the host with `xhost +local:` (or share the cookie: `-e XAUTHORITY -v $XAUTHORITY:$XAUTHORITY`); " +
	"Wayland: pass WAYLAND_DISPLAY and XDG_RUNTIME_DIR, mount $XDG_RUNTIME_DIR/$WAYLAND_DISPLAY, and set QT_QPA_PLATFORM=wayland " +
	"(needs Qt's Wayland plugin, Debian package qtwayland5)"

// Usable reports whether a display is reachable, from the given environment lookup (os.Getenv in production):
// DISPLAY set and its X server accepts a connection (and, when it answers the X11 connection setup, accepts this
// client: an "Authorization required" refusal is reported), or WAYLAND_DISPLAY set and its socket (in
// XDG_RUNTIME_DIR, or an absolute path) accepts a connection. The error says what was tried and how to forward a
// display.
func Usable(getenv func(string) string) error {
	c, err := reachDisplay(getenv)
	if c != nil {
		c.Close()
	}
	return err
}

// reachDisplay is Usable, returning the X connection it made, still open, when the display is X11: Run holds it
// until Qt has connected, because an X server resets when its last client disconnects, and a Qt that connects
// during the reset fails and aborts the process.
func reachDisplay(getenv func(string) string) (io.Closer, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	var tried []string
	if d := getenv("DISPLAY"); d != "" {
		c, err := probeX11(d, getenv)
		if err == nil {
			return c, nil
		}
		tried = append(tried, fmt.Sprintf("DISPLAY=%s: %v", d, err))
	} else {
		tried = append(tried, "DISPLAY is not set")
	}
	if w := getenv("WAYLAND_DISPLAY"); w != "" {
		err := probeWayland(w, getenv("XDG_RUNTIME_DIR"))
		if err == nil {
			return nil, nil
		}
		tried = append(tried, fmt.Sprintf("WAYLAND_DISPLAY=%s: %v", w, err))
	} else {
		tried = append(tried, "WAYLAND_DISPLAY is not set")
	}
	return nil, fmt.Errorf("no usable display (%s); %s", strings.Join(tried, "; "), forwardHelp)
}

// waylandOnly reports whether Qt has to use its Wayland platform: no DISPLAY, but a WAYLAND_DISPLAY.
func waylandOnly(getenv func(string) string) bool {
	return getenv("DISPLAY") == "" && getenv("WAYLAND_DISPLAY") != ""
}

func probeWayland(name, runtimeDir string) error {
	path := name
	if !filepath.IsAbs(name) {
		if runtimeDir == "" {
			return errors.New("XDG_RUNTIME_DIR is not set, so the socket cannot be found")
		}
		path = filepath.Join(runtimeDir, name)
	}
	c, err := net.DialTimeout("unix", path, dialTimeout)
	if err != nil {
		return fmt.Errorf("connect to the compositor socket: %w", err)
	}
	c.Close()
	return nil
}

// xDisplay is a parsed DISPLAY value: [protocol/]host:display[.screen].
type xDisplay struct {
	protocol string // "", "unix", "tcp", "inet", "inet6"
	host     string // "" or "unix" for the local socket; an absolute path for a launchd-style socket
	number   int
}

func parseDisplay(s string) (xDisplay, error) {
	var d xDisplay
	rest := s
	if !strings.HasPrefix(rest, "/") {
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			d.protocol, rest = rest[:i], rest[i+1:]
			switch d.protocol {
			case "unix", "tcp", "inet", "inet6":
			default:
				return d, fmt.Errorf("unsupported protocol %q in DISPLAY %q", d.protocol, s)
			}
		}
	}
	i := strings.LastIndexByte(rest, ':')
	if i < 0 {
		return d, fmt.Errorf("malformed DISPLAY %q: want [host]:number[.screen], e.g. :0", s)
	}
	d.host, rest = rest[:i], rest[i+1:]
	if strings.HasSuffix(d.host, ":") {
		return d, fmt.Errorf("DECnet DISPLAY %q is not supported", s)
	}
	if j := strings.IndexByte(rest, '.'); j >= 0 {
		if _, err := strconv.ParseUint(rest[j+1:], 10, 16); err != nil {
			return d, fmt.Errorf("malformed screen number in DISPLAY %q", s)
		}
		rest = rest[:j]
	}
	n, err := strconv.ParseUint(rest, 10, 16)
	if err != nil || n > 65535-6000 {
		return d, fmt.Errorf("malformed display number in DISPLAY %q: want [host]:number[.screen], e.g. :0", s)
	}
	d.number = int(n)
	return d, nil
}

// dialX connects to the X server the way libxcb does: the local socket (Linux abstract namespace first, then the
// file in /tmp/.X11-unix), falling back to TCP on localhost for an empty host; TCP port 6000+n for a host name.
func dialX(d xDisplay) (net.Conn, error) {
	var errs []string
	try := func(network, addr string) net.Conn {
		c, err := net.DialTimeout(network, addr, dialTimeout)
		if err != nil {
			var op *net.OpError
			if errors.As(err, &op) && op.Err != nil {
				err = op.Err
			}
			errs = append(errs, fmt.Sprintf("%s %s: %v", network, addr, err))
			return nil
		}
		return c
	}
	if strings.HasPrefix(d.host, "/") { // launchd (XQuartz) socket: the path is the whole "host:number"
		if c := try("unix", fmt.Sprintf("%s:%d", d.host, d.number)); c != nil {
			return c, nil
		}
		return nil, errors.New(strings.Join(errs, "; "))
	}
	local := d.host == "" || d.host == "unix"
	if local && (d.protocol == "" || d.protocol == "unix") {
		file := fmt.Sprintf("/tmp/.X11-unix/X%d", d.number)
		if c := try("unix", "@"+file); c != nil {
			return c, nil
		}
		errs = errs[:0] // the abstract socket is an optimisation; report the file
		if c := try("unix", file); c != nil {
			return c, nil
		}
		if d.protocol == "unix" || d.host == "unix" {
			return nil, errors.New(strings.Join(errs, "; "))
		}
	} else if d.protocol == "unix" {
		return nil, fmt.Errorf("protocol unix with host %q", d.host)
	}
	host := d.host
	if local {
		host = "localhost"
	}
	network := "tcp"
	switch d.protocol {
	case "inet":
		network = "tcp4"
	case "inet6":
		network = "tcp6"
	}
	if c := try(network, net.JoinHostPort(host, strconv.Itoa(6000+d.number))); c != nil {
		return c, nil
	}
	return nil, errors.New(strings.Join(errs, "; "))
}

// probeX11 connects to the X server named by DISPLAY and runs the X11 connection setup, with the
// MIT-MAGIC-COOKIE-1 that libxcb would pick from XAUTHORITY (or ~/.Xauthority), so that a server that refuses
// this client ("Authorization required") is reported here instead of aborting Qt later. It returns the open
// connection.
func probeX11(display string, getenv func(string) string) (net.Conn, error) {
	d, err := parseDisplay(display)
	if err != nil {
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		c, err := dialX(d)
		if err != nil {
			return nil, fmt.Errorf("X server not reachable (%v)", err)
		}
		name, data, ok := xauthFor(c, d.number, getenv)
		if ok && name != "MIT-MAGIC-COOKIE-1" {
			// An authorization protocol we cannot speak (XDM-AUTHORIZATION-1): the server accepted the
			// connection; let Xlib/xcb do the rest.
			return c, nil
		}
		err = xSetup(c, name, data)
		if err == nil {
			return c, nil
		}
		c.Close()
		// An X server resets when its last client leaves (a display probe just before, xdotool…) and drops
		// the connections it accepted meanwhile: try again.
		if attempt < 8 && droppedConn(err) {
			time.Sleep(time.Duration(attempt) * 50 * time.Millisecond)
			continue
		}
		return nil, fmt.Errorf("the X server at %s refused the connection: %v", strings.TrimPrefix(c.RemoteAddr().String(), "@"), err)
	}
}

// droppedConn reports whether err means the peer closed the connection.
func droppedConn(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)
}

// xSetup sends the X11 connection setup request and reads the server's answer. It returns nil when the server
// accepts the client; the reply's body is read and discarded.
func xSetup(c net.Conn, authName string, authData []byte) error {
	_, err := xSetupReply(c, authName, authData)
	return err
}

// xSetupReply is xSetup returning the body of a successful reply (the server's description).
func xSetupReply(c net.Conn, authName string, authData []byte) ([]byte, error) {
	_ = c.SetDeadline(time.Now().Add(dialTimeout))
	defer c.SetDeadline(time.Time{})
	var req bytes.Buffer
	req.Write([]byte{'l', 0})
	le := binary.LittleEndian
	req.Write(le.AppendUint16(nil, 11))
	req.Write(le.AppendUint16(nil, 0))
	req.Write(le.AppendUint16(nil, uint16(len(authName))))
	req.Write(le.AppendUint16(nil, uint16(len(authData))))
	req.Write([]byte{0, 0})
	req.WriteString(authName)
	req.Write(make([]byte, pad4(len(authName))))
	req.Write(authData)
	req.Write(make([]byte, pad4(len(authData))))
	if _, err := c.Write(req.Bytes()); err != nil {
		return nil, fmt.Errorf("send connection setup: %w", err)
	}
	var head [8]byte
	if _, err := io.ReadFull(c, head[:]); err != nil {
		return nil, fmt.Errorf("read connection setup reply: %w", err)
	}
	body := make([]byte, 4*int(le.Uint16(head[6:8])))
	if _, err := io.ReadFull(c, body); err != nil {
		return nil, fmt.Errorf("read connection setup reply: %w", err)
	}
	switch head[0] {
	case 1:
		return body, nil
	case 0: // Failed: head[1] is the reason's length
		n := min(int(head[1]), len(body))
		return nil, fmt.Errorf("%s", strings.TrimSpace(string(body[:n])))
	case 2: // Authenticate
		return nil, fmt.Errorf("authentication required: %s", strings.TrimRight(string(body), "\x00 \n"))
	default:
		return nil, fmt.Errorf("unexpected connection setup status %d", head[0])
	}
}

func pad4(n int) int { return (4 - n%4) % 4 }

// Xauthority families (Xauth.h).
const (
	familyInternet  = 0
	familyInternet6 = 6
	familyLocal     = 256
	familyWild      = 65535
)

// xauthFor picks the authorization entry libxcb would use for connection c to display number n: the first entry
// of a supported protocol (XDM-AUTHORIZATION-1 preferred over MIT-MAGIC-COOKIE-1) whose family and address match
// the peer (local sockets and loopback TCP match FamilyLocal with this host's name) or are wild, and whose display
// number matches or is empty (libXau's XauGetBestAuth).
func xauthFor(c net.Conn, n int, getenv func(string) string) (name string, data []byte, ok bool) {
	path := getenv("XAUTHORITY")
	if path == "" {
		home := getenv("HOME")
		if home == "" {
			return "", nil, false
		}
		path = filepath.Join(home, ".Xauthority")
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", nil, false
	}
	family := uint16(familyLocal)
	var addr []byte
	if ta, isTCP := c.RemoteAddr().(*net.TCPAddr); isTCP {
		switch ip := ta.IP; {
		case ip.IsLoopback():
		case ip.To4() != nil:
			family, addr = familyInternet, ip.To4()
		default:
			family, addr = familyInternet6, ip.To16()
		}
	}
	if family == familyLocal {
		h, err := os.Hostname()
		if err != nil {
			return "", nil, false
		}
		addr = []byte(h)
	}
	number := []byte(strconv.Itoa(n))
	best := -1
	types := []string{"XDM-AUTHORIZATION-1", "MIT-MAGIC-COOKIE-1"}
	for _, e := range parseXauthority(raw) {
		if !(e.family == familyWild || (e.family == family && bytes.Equal(e.address, addr))) {
			continue
		}
		if len(e.number) != 0 && !bytes.Equal(e.number, number) {
			continue
		}
		for t, tn := range types {
			if e.name == tn && (best < 0 || t < best) {
				best, name, data = t, e.name, e.data
			}
		}
		if best == 0 {
			break
		}
	}
	return name, data, best >= 0
}

type xauthEntry struct {
	family  uint16
	address []byte
	number  []byte
	name    string
	data    []byte
}

// parseXauthority reads the entries of an .Xauthority file; a truncated tail is ignored.
func parseXauthority(b []byte) []xauthEntry {
	var out []xauthEntry
	field := func() ([]byte, bool) {
		if len(b) < 2 {
			return nil, false
		}
		n := int(binary.BigEndian.Uint16(b))
		if len(b) < 2+n {
			return nil, false
		}
		f := b[2 : 2+n]
		b = b[2+n:]
		return f, true
	}
	for len(b) >= 2 {
		var e xauthEntry
		e.family = binary.BigEndian.Uint16(b)
		b = b[2:]
		var name []byte
		var ok1, ok2, ok3, ok4 bool
		e.address, ok1 = field()
		e.number, ok2 = field()
		name, ok3 = field()
		e.data, ok4 = field()
		if !(ok1 && ok2 && ok3 && ok4) {
			break
		}
		e.name = string(name)
		out = append(out, e)
	}
	return out
}
