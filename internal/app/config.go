package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"

	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/enkisys/chorus/internal/secrets"
)

// Defaults of the settings.
const (
	HTTPAddrDefault        = ":8080"
	DataDirDefault         = "./chorus-data"
	ShutdownTimeoutDefault = 15 * time.Second
	ShutdownDelayDefault   = 0 * time.Second
	LogLevelDefault        = "info"
	LogFormatDefault       = "json"
)

// Config is the whole configuration: flags, then CHORUS_* environment
// variables, then defaults. Each component's settings are grouped.
type Config struct {
	Roles           []string
	HTTPAddr        string
	PublicURL       string
	DataDir         string
	DatabaseURL     string
	RedisURL        string
	RedisPrefix     string
	JWTSecret       string
	JWKSURL         string
	JWTIssuer       string
	JWTAudience     string
	LogLevel        string
	LogFormat       string
	ShutdownTimeout time.Duration
	ShutdownDelay   time.Duration
	Demo            bool
	DemoWidgetKey   string
	TLSCert         string
	TLSKey          string
	CORSOrigins     []string
	MaxBodyBytes    int64
	Pprof           bool

	Limits  Limits
	Gateway GatewayConfig
}

// Limits are the abuse limits (rate per minute unless named otherwise).
type Limits struct {
	WidgetSessionsPerIP   int // per minute
	WidgetSessionsPerKey  int // per minute
	LoginPerIP            int // per minute
	LoginPerAccount       int // per 15 minutes
	MessagesPerConnSecond int // per connection per second (burst = 2x)
	MessagesPerVisitorMin int // per visitor (conversation) per minute, REST and WS together
	APIPerTenantSecond    int // per tenant per second (burst = 2x)
	SocketsPerVisitor     int
	SocketsPerIP          int
}

// GatewayConfig tunes the WebSocket gateway.
type GatewayConfig struct {
	SendBuffer   int
	PingInterval time.Duration
	WriteTimeout time.Duration
}

type setting struct {
	name, usage string
	def         string
	set         func(string) error
}

// isBool: a boolean setting, where a bare --name means true.
func (s setting) isBool() bool { return s.def == "true" || s.def == "false" }

// settings builds the table of every setting bound to cfg.
func settings(cfg *Config) []setting {
	str := func(p *string) func(string) error { return func(v string) error { *p = v; return nil } }
	dur := func(name string, p *time.Duration) func(string) error {
		return func(v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return fmt.Errorf("%s: %q is not a duration (for example 15s, 2m)", name, v)
			}
			*p = d
			return nil
		}
	}
	num := func(name string, p *int) func(string) error {
		return func(v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return fmt.Errorf("%s: %q is not a non-negative integer", name, v)
			}
			*p = n
			return nil
		}
	}
	list := func(p *[]string) func(string) error {
		return func(v string) error {
			*p = nil
			for _, s := range strings.Split(v, ",") {
				if s = strings.TrimSpace(s); s != "" {
					*p = append(*p, s)
				}
			}
			return nil
		}
	}
	boolean := func(name string, p *bool) func(string) error {
		return func(v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("%s: %q is not a boolean (true or false)", name, v)
			}
			*p = b
			return nil
		}
	}
	return []setting{
		{"roles", "comma-separated roles to run: " + strings.Join(Roles, ", "), All, list(&cfg.Roles)},
		{"http-addr", "address the HTTP and WebSocket server listens on", HTTPAddrDefault, str(&cfg.HTTPAddr)},
		{"public-url", "URL users reach Chorus at, for printed links (default: from http-addr)", "", str(&cfg.PublicURL)},
		{"data-dir", "directory of the embedded database and generated secrets", DataDirDefault, str(&cfg.DataDir)},
		{"database-url", "postgres://… to use PostgreSQL (empty: SQLite in the data dir)", "", str(&cfg.DatabaseURL)},
		{"redis-url", "redis://… for the bus, limits and presence across processes (empty: in-process)", "", str(&cfg.RedisURL)},
		{"redis-prefix", "prefix of every Redis key and channel of this deployment", "chorus:", str(&cfg.RedisPrefix)},
		{"jwt-secret", "HS256 secret for tokens (empty: generated once, kept in the data dir)", "", str(&cfg.JWTSecret)},
		{"jwks-url", "JWKS URL of the host platform for RS256/ES256 tokens", "", str(&cfg.JWKSURL)},
		{"jwt-issuer", "required iss claim (empty: not checked)", "", str(&cfg.JWTIssuer)},
		{"jwt-audience", "required aud claim (empty: not checked)", "", str(&cfg.JWTAudience)},
		{"log-level", "debug, info, warn or error", LogLevelDefault, str(&cfg.LogLevel)},
		{"log-format", "json or text", LogFormatDefault, str(&cfg.LogFormat)},
		{"shutdown-timeout", "how long to wait for modules to stop", ShutdownTimeoutDefault.String(), dur("shutdown-timeout", &cfg.ShutdownTimeout)},
		{"shutdown-delay", "how long /readyz answers 503 before connections are closed (load-balancer drain)", ShutdownDelayDefault.String(), dur("shutdown-delay", &cfg.ShutdownDelay)},
		{"demo", "create a demo tenant, admin and widget channel on first run (embedded mode)", "true", boolean("demo", &cfg.Demo)},
		{"demo-widget-key", "widget key shown on /demo when no demo tenant is bootstrapped (split deployments)", "", str(&cfg.DemoWidgetKey)},
		{"tls-cert", "TLS certificate file (with tls-key: serve HTTPS, TLS 1.3 minimum)", "", str(&cfg.TLSCert)},
		{"tls-key", "TLS private key file", "", str(&cfg.TLSKey)},
		{"cors-origins", "comma-separated origins allowed to call the API from browsers", "", list(&cfg.CORSOrigins)},
		{"max-body-bytes", "largest accepted REST request body", "65536", func(v string) error {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 1024 {
				return fmt.Errorf("max-body-bytes: %q must be an integer >= 1024", v)
			}
			cfg.MaxBodyBytes = n
			return nil
		}},
		{"debug.pprof", "serve Go profiles at /debug/pprof/ (operators only: do not expose publicly)", "false", boolean("debug.pprof", &cfg.Pprof)},
		{"limits.widget-sessions-per-ip", "widget sessions per IP per minute", "20", num("limits.widget-sessions-per-ip", &cfg.Limits.WidgetSessionsPerIP)},
		{"limits.widget-sessions-per-key", "widget sessions per widget key per minute", "600", num("limits.widget-sessions-per-key", &cfg.Limits.WidgetSessionsPerKey)},
		{"limits.login-per-ip", "login attempts per IP per minute", "20", num("limits.login-per-ip", &cfg.Limits.LoginPerIP)},
		{"limits.login-per-account", "login attempts per account per 15 minutes", "10", num("limits.login-per-account", &cfg.Limits.LoginPerAccount)},
		{"limits.messages-per-conn-second", "messages per WebSocket connection per second", "10", num("limits.messages-per-conn-second", &cfg.Limits.MessagesPerConnSecond)},
		{"limits.messages-per-visitor-minute", "messages per visitor per minute", "120", num("limits.messages-per-visitor-minute", &cfg.Limits.MessagesPerVisitorMin)},
		{"limits.api-per-tenant-second", "REST calls per tenant per second", "1000", num("limits.api-per-tenant-second", &cfg.Limits.APIPerTenantSecond)},
		{"limits.sockets-per-visitor", "open sockets per visitor", "5", num("limits.sockets-per-visitor", &cfg.Limits.SocketsPerVisitor)},
		{"limits.sockets-per-ip", "open sockets per client IP (0: unlimited)", "0", num("limits.sockets-per-ip", &cfg.Limits.SocketsPerIP)},
		{"gateway.send-buffer", "frames buffered per connection before a slow consumer is disconnected", "256", num("gateway.send-buffer", &cfg.Gateway.SendBuffer)},
		{"gateway.ping-interval", "WebSocket ping interval (the read deadline is 2.5x)", "25s", dur("gateway.ping-interval", &cfg.Gateway.PingInterval)},
		{"gateway.write-timeout", "deadline for one WebSocket write", "10s", dur("gateway.write-timeout", &cfg.Gateway.WriteTimeout)},
	}
}

// EnvName is the environment variable of a setting: CHORUS_ + upper snake case.
func EnvName(setting string) string {
	return "CHORUS_" + strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(setting))
}

// secretSettings never have their values shown.
var secretSettings = []string{"jwt-secret", "database-url", "redis-url"}

// LoadConfig parses args (flags) over CHORUS_* variables from getenv over the
// defaults, resolves values given as ssm:///path/name from AWS SSM Parameter
// Store, then validates. Every problem is reported at once, and no resolved
// secret appears in an error. help is written for -h/--help (flag.ErrHelp is
// returned).
func LoadConfig(args []string, getenv func(string) string, help io.Writer) (Config, error) {
	var cfg Config
	fs := flag.NewFlagSet("chorus", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	table := settings(&cfg)
	var errs []error
	raw := make(map[string]string, len(table))
	source := map[string]string{} // setting → where a non-default value came from
	for _, s := range table {
		if err := s.set(s.def); err != nil {
			panic(err) // a default that does not parse is a bug
		}
		raw[s.name] = s.def
	}
	for _, s := range table {
		set := func(v string) error {
			raw[s.name], source[s.name] = v, "--"+s.name
			return nil
		}
		if s.isBool() {
			fs.BoolFunc(s.name, s.usage, set)
		} else {
			fs.Func(s.name, s.usage, set)
		}
	}
	fs.Usage = func() { writeHelp(help, table) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			writeHelp(help, table)
			return cfg, err
		}
		return cfg, fmt.Errorf("%w (run chorus --help for the settings)", err)
	}
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	for _, s := range table {
		if _, given := source[s.name]; given {
			continue
		}
		if v, ok := lookup(getenv, EnvName(s.name)); ok {
			raw[s.name], source[s.name] = v, EnvName(s.name)
		}
	}
	// Secrets from AWS SSM: any value may be ssm:///path/name.
	refs := map[string]*string{}
	for name, v := range raw {
		if secrets.IsRef(v) {
			v := v
			refs[name] = &v
		}
	}
	var resolved []string
	if len(refs) > 0 {
		if err := secrets.Resolve(context.Background(), refs, secrets.Options{Getenv: getenv}); err != nil {
			return cfg, fmt.Errorf("invalid configuration:\n  %w", err)
		}
		for name, v := range refs {
			raw[name] = *v
			resolved = append(resolved, *v)
		}
	}
	for _, s := range table {
		src, given := source[s.name]
		if !given {
			continue
		}
		if err := s.set(raw[s.name]); err != nil {
			if refs[s.name] != nil {
				err = fmt.Errorf("%s: the value from SSM is not valid", s.name)
			} else if !strings.HasPrefix(src, "--") {
				err = fmt.Errorf("%s (from %s)", err, src)
			}
			errs = append(errs, err)
		}
	}
	errs = append(errs, cfg.validate()...)
	if len(errs) > 0 {
		return cfg, secrets.Redact(fmt.Errorf("invalid configuration:\n  %w", joinLines(errs)), resolved...)
	}
	return cfg, nil
}

func lookup(getenv func(string) string, k string) (string, bool) {
	v := getenv(k)
	return v, v != ""
}

type lines []error

func (l lines) Error() string {
	s := make([]string, len(l))
	for i, e := range l {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n  ")
}

func joinLines(errs []error) error { return lines(errs) }

func writeHelp(w io.Writer, table []setting) {
	if w == nil {
		return
	}
	fmt.Fprintf(w, `Chorus: live chat for websites, one binary with roles.

Usage:
  chorus [settings]                      run the server (all roles on embedded defaults)
  chorus token --tenant T --sub U --roles agent[,admin] [--ttl 1h] [--name N] [--email E]
  chorus tenant create NAME --admin-email E [--id ID]
  chorus migrate up|status
  chorus version

Settings (flag, environment variable, default):
`)
	for _, s := range table {
		def := s.def
		if def == "" {
			def = `""`
		}
		fmt.Fprintf(w, "  --%s  (%s, default %s)\n      %s\n", s.name, EnvName(s.name), def, s.usage)
	}
}

// Embedded reports whether the process runs on embedded backends (no
// PostgreSQL and no Redis configured).
func (c Config) Embedded() bool { return c.DatabaseURL == "" && c.RedisURL == "" }

func (c *Config) validate() []error {
	var errs []error
	if len(c.Roles) == 0 {
		errs = append(errs, fmt.Errorf("roles: at least one role (valid roles: %s)", strings.Join(Roles, ", ")))
	}
	for _, r := range c.Roles {
		if !slices.Contains(Roles, r) {
			errs = append(errs, fmt.Errorf("roles: unknown role %q (valid roles: %s)", r, strings.Join(Roles, ", ")))
		}
	}
	if !slices.Equal(c.Roles, []string{All}) && len(c.Roles) > 0 {
		var missing []string
		if c.DatabaseURL == "" {
			missing = append(missing, "PostgreSQL (--database-url / CHORUS_DATABASE_URL)")
		}
		if c.RedisURL == "" {
			missing = append(missing, "Redis (--redis-url / CHORUS_REDIS_URL)")
		}
		if len(missing) > 0 {
			errs = append(errs, fmt.Errorf("roles: --roles=%s runs part of a split deployment, which needs %s; only --roles=all runs on the embedded defaults",
				strings.Join(c.Roles, ","), strings.Join(missing, " and ")))
		}
	}
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		errs = append(errs, fmt.Errorf("http-addr: %q is not host:port (for example :8080 or 127.0.0.1:8080)", c.HTTPAddr))
	}
	if c.DatabaseURL != "" {
		u, err := url.Parse(c.DatabaseURL)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			errs = append(errs, errors.New("database-url: must be a postgres://user@host:port/db URL"))
		}
	}
	if c.RedisURL != "" {
		u, err := url.Parse(c.RedisURL)
		if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
			errs = append(errs, errors.New("redis-url: must be a redis://host:port/db or rediss:// URL"))
		}
	}
	if c.JWTSecret != "" && len(c.JWTSecret) < 32 {
		errs = append(errs, errors.New("jwt-secret: must be at least 32 characters"))
	}
	if c.JWKSURL != "" {
		u, err := url.Parse(c.JWKSURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, errors.New("jwks-url: must be an http(s):// URL"))
		}
	}
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, fmt.Errorf("public-url: %q must be an http(s):// URL", c.PublicURL))
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log-level: %q is not one of debug, info, warn, error", c.LogLevel))
	}
	switch c.LogFormat {
	case "json", "text":
	default:
		errs = append(errs, fmt.Errorf("log-format: %q is not json or text", c.LogFormat))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("tls-cert and tls-key: give both or neither"))
	}
	for _, o := range c.CORSOrigins {
		u, err := url.Parse(o)
		if err != nil || u.Scheme == "" || u.Host == "" || u.Path != "" {
			errs = append(errs, fmt.Errorf("cors-origins: %q is not an origin like https://example.com", o))
		}
	}
	if c.Gateway.SendBuffer < 8 {
		errs = append(errs, errors.New("gateway.send-buffer: at least 8"))
	}
	if c.Gateway.PingInterval < time.Second {
		errs = append(errs, errors.New("gateway.ping-interval: at least 1s"))
	}
	return errs
}

// URL returns the base URL users reach the server at.
func (c Config) URL() string {
	if c.PublicURL != "" {
		return strings.TrimRight(c.PublicURL, "/")
	}
	host, port, _ := net.SplitHostPort(c.HTTPAddr)
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	scheme := "http"
	if c.TLSCert != "" {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}
