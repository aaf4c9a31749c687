// Package listenaddr tells people where a listening server can be reached: every interface address with the
// port, so nobody has to hunt for the machine's IP address as the seed tutorial's README made them.
package listenaddr

import (
	"net"
	"sort"
)

// Reachable returns "host:port" strings for bound, a listener's address. A wildcard bind (0.0.0.0 or ::)
// expands to every address of every interface that is up, loopback last; a specific bind is returned as it is.
func Reachable(bound net.Addr) []string {
	tcp, ok := bound.(*net.TCPAddr)
	if !ok {
		return []string{bound.String()}
	}
	if !tcp.IP.IsUnspecified() {
		return []string{tcp.String()}
	}
	ifaces, err := net.Interfaces()
	if err != nil {
		return []string{tcp.String()}
	}
	type cand struct {
		s    string
		rank int
	}
	var cs []cand
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok || ipn.IP.IsLinkLocalUnicast() && ipn.IP.To4() == nil {
				continue // IPv6 link-local needs a zone: not something to paste into a client
			}
			if tcp.IP.To4() != nil && ipn.IP.To4() == nil {
				continue // bound to IPv4 only
			}
			rank := 0
			switch {
			case ipn.IP.IsLoopback():
				rank = 3
			case ipn.IP.To4() == nil:
				rank = 1
			}
			cs = append(cs, cand{net.JoinHostPort(ipn.IP.String(), itoa(tcp.Port)), rank})
		}
	}
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].rank < cs[j].rank })
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.s
	}
	if len(out) == 0 {
		return []string{tcp.String()}
	}
	return out
}

func itoa(n int) string {
	return (&net.TCPAddr{Port: n}).String()[1:]
}
