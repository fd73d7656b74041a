package loadtest

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"
)

// Modes.
const (
	ModeChat = "chat" // send messages and measure latency
	ModeIdle = "idle" // hold the connections and measure server memory per connection
)

// Defaults.
const (
	ConnsDefault            = 200
	RateDefault             = 200
	DurationDefault         = 10 * time.Second
	WarmupDefault           = 2 * time.Second
	DrainDefault            = 10 * time.Second
	SourceIPsDefault        = 16
	ConnectRateDefault      = 200
	SettleDefault           = 5 * time.Second
	BodySizeDefault         = 64
	WritersDefault          = 8
	HandshakeTimeoutDefault = 10 * time.Second
	WriteTimeoutDefault     = 10 * time.Second
	ProgressIntervalDefault = time.Second
	StallRateDefault        = 50
	ConversationsPerAgent   = 5 // default --agents: one agent per 5 conversations (the server's default capacity)
)

// Config is everything one run needs; see ParseFlags for the meaning of each field.
type Config struct {
	URL          string
	WSURLs       []string // base URLs of the WebSocket gateways (empty: URL)
	Tenant       string
	AdminToken   string
	JWTSecret    string
	WidgetKey    string
	Conns        int
	Agents       int
	Rate         float64
	Duration     time.Duration
	Warmup       time.Duration
	Drain        time.Duration
	SourceIPs    int
	ConnectRate  float64
	PID          int
	JSONPath     string
	PrintJSON    bool
	Mode         string
	Settle       time.Duration
	APIProbeRate float64
	BodySize     int
	Writers      int
	Stall        int     // conversations whose visitor socket stops reading (chat mode)
	StallRate    float64 // messages per second sent to each stalled socket

	HandshakeTimeout time.Duration
	WriteTimeout     time.Duration
	ProgressInterval time.Duration
}

// ParseFlags parses the command line of chorus-load.
func ParseFlags(args []string, output io.Writer) (Config, error) {
	var c Config
	fs := flag.NewFlagSet("chorus-load", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.StringVar(&c.URL, "url", "http://127.0.0.1:8080", "server base URL (http or https)")
	fs.Func("ws-urls", "comma-separated base URLs of the WebSocket gateways (default: --url); socket i starts on URL i mod n and fails over to the next one when a reconnect fails", func(v string) error {
		c.WSURLs = splitList(v)
		return nil
	})
	fs.StringVar(&c.Tenant, "tenant", "", "tenant id (default: the tenant_id claim of --admin-token)")
	fs.StringVar(&c.AdminToken, "admin-token", "", "admin JWT (used to create a channel and, without --jwt-secret, as the only agent)")
	fs.StringVar(&c.JWTSecret, "jwt-secret", "", "HS256 secret to mint admin and agent tokens (agents are provisioned just in time)")
	fs.StringVar(&c.WidgetKey, "widget-key", "", "widget key of a web_widget channel (default: create one with the admin token)")
	fs.IntVar(&c.Conns, "conns", ConnsDefault, "total WebSocket connections (conns/2 conversations, a visitor and an agent socket each)")
	fs.IntVar(&c.Agents, "agents", 0, "agents sharing the conversations (0: one per 5 conversations)")
	fs.Float64Var(&c.Rate, "rate", RateDefault, "messages per second in total, both directions")
	fs.DurationVar(&c.Duration, "duration", DurationDefault, "measured send period")
	fs.DurationVar(&c.Warmup, "warmup", WarmupDefault, "send period before measuring (not in latency figures; checked for loss)")
	fs.DurationVar(&c.Drain, "drain", DrainDefault, "longest wait for outstanding acks and deliveries after the last send")
	fs.IntVar(&c.SourceIPs, "source-ips", SourceIPsDefault, "spread connections over 127.0.0.1..127.0.0.N (loopback targets only)")
	fs.Float64Var(&c.ConnectRate, "connect-rate", ConnectRateDefault, "conversations set up per second while ramping")
	fs.IntVar(&c.PID, "pid", 0, "server process id, to report its RSS and CPU from /proc")
	fs.StringVar(&c.JSONPath, "json", "", "write the JSON summary to this file")
	fs.BoolVar(&c.PrintJSON, "print-json", false, "print the JSON summary on stdout")
	fs.StringVar(&c.Mode, "mode", ModeChat, "chat (send and measure) or idle (hold connections, measure server RSS per connection)")
	fs.DurationVar(&c.Settle, "settle", SettleDefault, "idle mode: wait this long after connecting before reading RSS")
	fs.Float64Var(&c.APIProbeRate, "api-probe-rate", 0, "GET .../messages?limit=20 requests per second during the run (0: off)")
	fs.IntVar(&c.BodySize, "body-size", BodySizeDefault, "message body length in characters")
	fs.IntVar(&c.Writers, "writers", WritersDefault, "goroutines writing scheduled sends to sockets")
	fs.IntVar(&c.Stall, "stall", 0, "chat mode: the visitor sockets of this many conversations stop reading when sending starts; each gets --stall-rate large messages per second from its agent and is left out of the latency and loss figures")
	fs.Float64Var(&c.StallRate, "stall-rate", StallRateDefault, "messages per second (4000-character bodies) sent to each stalled socket")
	fs.DurationVar(&c.HandshakeTimeout, "handshake-timeout", HandshakeTimeoutDefault, "WebSocket dial and hello timeout")
	fs.DurationVar(&c.WriteTimeout, "write-timeout", WriteTimeoutDefault, "WebSocket write deadline")
	fs.DurationVar(&c.ProgressInterval, "progress", ProgressIntervalDefault, "progress line interval")
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("loadtest: parse flags: unexpected argument %q", fs.Arg(0))
	}
	return c, c.Validate()
}

// Validate checks c and reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, errors.New("--url: must be an http(s) base URL"))
	}
	for _, w := range c.WSURLs {
		if u, err := url.Parse(w); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("--ws-urls: %q must be an http(s) base URL like --url", w))
		}
	}
	if c.AdminToken == "" && c.JWTSecret == "" {
		errs = append(errs, errors.New("--admin-token or --jwt-secret is required (agents need tokens)"))
	}
	if c.Tenant == "" && tokenTenant(c.AdminToken) == "" {
		errs = append(errs, errors.New("--tenant: required (or an --admin-token with a tenant_id claim)"))
	}
	if c.Conns < 2 || c.Conns%2 != 0 {
		errs = append(errs, errors.New("--conns: must be an even number >= 2"))
	}
	if c.Agents < 0 {
		errs = append(errs, errors.New("--agents: must be >= 0"))
	}
	switch c.Mode {
	case ModeChat:
		if c.Rate <= 0 {
			errs = append(errs, errors.New("--rate: must be > 0"))
		}
		if c.Duration <= 0 {
			errs = append(errs, errors.New("--duration: must be > 0"))
		}
	case ModeIdle:
	default:
		errs = append(errs, fmt.Errorf("--mode: %q is not chat or idle", c.Mode))
	}
	if c.Stall < 0 || (c.Stall > 0 && (c.Mode != ModeChat || c.Stall >= c.Conns/2)) {
		errs = append(errs, errors.New("--stall: must be >= 0, chat mode only, and leave at least one conversation unstalled"))
	}
	if c.Stall > 0 && c.StallRate <= 0 {
		errs = append(errs, errors.New("--stall-rate: must be > 0"))
	}
	if c.Warmup < 0 || c.Drain < 0 || c.Settle < 0 {
		errs = append(errs, errors.New("--warmup, --drain, --settle: must be >= 0"))
	}
	if c.ConnectRate <= 0 {
		errs = append(errs, errors.New("--connect-rate: must be > 0"))
	}
	if c.APIProbeRate < 0 {
		errs = append(errs, errors.New("--api-probe-rate: must be >= 0"))
	}
	if c.BodySize < 24 || c.BodySize > 4000 {
		errs = append(errs, errors.New("--body-size: must be in [24, 4000]"))
	}
	if c.Writers < 1 {
		errs = append(errs, errors.New("--writers: must be >= 1"))
	}
	if c.HandshakeTimeout <= 0 || c.WriteTimeout <= 0 || c.ProgressInterval <= 0 {
		errs = append(errs, errors.New("--handshake-timeout, --write-timeout, --progress: must be > 0"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("loadtest: invalid config: %w", err)
	}
	return nil
}

// splitList splits a comma-separated list, dropping empty items.
func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// wsBases returns the parsed WebSocket base URLs (at least one).
func (c Config) wsBases() []*url.URL {
	list := c.WSURLs
	if len(list) == 0 {
		list = []string{c.URL}
	}
	out := make([]*url.URL, 0, len(list))
	for _, s := range list {
		if u, err := url.Parse(s); err == nil {
			out = append(out, u)
		}
	}
	return out
}

// tenant returns the configured tenant or the admin token's.
func (c Config) tenant() string {
	if c.Tenant != "" {
		return c.Tenant
	}
	return tokenTenant(c.AdminToken)
}

// agents returns the number of agents to use.
func (c Config) agents() int {
	if c.AdminToken != "" && c.JWTSecret == "" {
		return 1 // only the admin identity exists
	}
	convs := c.Conns / 2
	if c.Agents > 0 {
		return min(c.Agents, convs)
	}
	return max(1, (convs+ConversationsPerAgent-1)/ConversationsPerAgent)
}
