package loadtest

import (
	"context"
	"net"
	"net/url"
	"time"

	"github.com/gorilla/websocket"
)

// SourceIPs returns the local addresses to spread connections over: 127.0.0.1
// … 127.0.0.n when the target host is an IPv4 loopback address (the whole
// 127/8 is local on Linux, and each source address has its own ~28k ephemeral
// ports), or nil (let the kernel choose) otherwise or when n <= 1.
func SourceIPs(n int, targetHost string) []net.IP {
	if n <= 1 {
		return nil
	}
	host := targetHost
	if h, _, err := net.SplitHostPort(targetHost); err == nil {
		host = h
	}
	if host == "localhost" {
		host = "127.0.0.1"
	}
	ip := net.ParseIP(host)
	if ip == nil || ip.To4() == nil || !ip.IsLoopback() {
		return nil
	}
	n = min(n, 254)
	out := make([]net.IP, n)
	for i := range out {
		out[i] = net.IPv4(127, 0, 0, byte(i+1))
	}
	return out
}

// dialers holds one WebSocket dialer per source address; connection i uses
// dialer i mod len.
type dialers []*websocket.Dialer

func newDialers(ips []net.IP, handshakeTimeout time.Duration) dialers {
	mk := func(ip net.IP) *websocket.Dialer {
		nd := &net.Dialer{Timeout: handshakeTimeout}
		if ip != nil {
			nd.LocalAddr = &net.TCPAddr{IP: ip}
		}
		return &websocket.Dialer{
			NetDialContext:   nd.DialContext,
			HandshakeTimeout: handshakeTimeout,
			// Small buffers: the tool holds tens of thousands of sockets and
			// its frames are small.
			ReadBufferSize:  1024,
			WriteBufferSize: 1024,
		}
	}
	if len(ips) == 0 {
		return dialers{mk(nil)}
	}
	out := make(dialers, len(ips))
	for i, ip := range ips {
		out[i] = mk(ip)
	}
	return out
}

func (d dialers) pick(i int) *websocket.Dialer { return d[i%len(d)] }

// netDial returns a plain TCP dial function bound to source address i
// (exported for tests through the same spreading rule).
func (d dialers) netDial(i int) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return d.pick(i).NetDialContext
}

// wsURL turns the http(s) base URL into the ws(s) URL of path.
func wsURL(base *url.URL, path string, query url.Values) string {
	u := *base
	if u.Scheme == "https" {
		u.Scheme = "wss"
	} else {
		u.Scheme = "ws"
	}
	u.Path = path
	u.RawQuery = query.Encode()
	return u.String()
}
