package listenaddr

import (
	"net"
	"strings"
	"testing"
)

func TestReachable(t *testing.T) {
	tests := []struct {
		name      string
		addr      *net.TCPAddr
		mustHave  string
		onlyOne   bool
		noIPv6Any bool
	}{
		{"specific", &net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 8485}, "127.0.0.1:8485", true, false},
		{"wildcard v6", &net.TCPAddr{IP: net.IPv6unspecified, Port: 8485}, "127.0.0.1:8485", false, false},
		{"wildcard v4", &net.TCPAddr{IP: net.IPv4zero, Port: 9000}, "127.0.0.1:9000", false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Reachable(tc.addr)
			found := false
			for _, a := range got {
				if a == tc.mustHave {
					found = true
				}
				if tc.noIPv6Any && strings.Count(a, ":") > 1 {
					t.Errorf("IPv6 address %s for an IPv4 bind", a)
				}
			}
			if !found {
				t.Errorf("Reachable(%v) = %v, lacks %s", tc.addr, got, tc.mustHave)
			}
			if tc.onlyOne && len(got) != 1 {
				t.Errorf("got %v, want one", got)
			}
			if !tc.onlyOne && len(got) > 1 && strings.HasPrefix(got[0], "127.") {
				t.Errorf("loopback listed first: %v", got)
			}
		})
	}
}
