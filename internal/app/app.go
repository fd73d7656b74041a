// Package app is the composition root: it turns a Config into the module
// table (modules.go), builds the adapters chosen by the configuration, and
// runs the modules named by --roles in dependency order.
package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/enkisys/chorus/docs"
	"github.com/enkisys/chorus/internal/auth"
	"github.com/enkisys/chorus/internal/chat"
	"github.com/enkisys/chorus/internal/chorus"
	"github.com/enkisys/chorus/internal/gateway"
	"github.com/enkisys/chorus/internal/module"
	"github.com/enkisys/chorus/internal/postgres"
	"github.com/enkisys/chorus/internal/server"
	"github.com/enkisys/chorus/internal/sqlite"
)

// Version is set at build time (-ldflags "-X …app.Version=…").
var Version = "dev"

// App holds the configuration, the module table and what the modules build.
type App struct {
	cfg     Config
	logger  *slog.Logger
	out     io.Writer
	modules *module.Manager

	server    *server.Server
	store     chorus.Store
	redis     *redis.Client
	bus       chorus.Bus
	limiter   chorus.RateLimiter
	verifier  *auth.Verifier
	jwtSecret []byte
	chat      *chat.Service
	gateway   *gateway.Gateway

	demoWidgetKey string
	banner        *DemoInfo
	ready         chan struct{}
}

// New builds the module table for cfg. out receives the start-up banner
// (where Chorus listens, the demo login).
func New(cfg Config, logger *slog.Logger, out io.Writer) (*App, error) {
	a := &App{cfg: cfg, logger: logger, out: out, modules: module.New(logger), ready: make(chan struct{})}
	if err := a.register(); err != nil {
		return nil, err
	}
	if err := a.modules.CheckTargets(cfg.Roles...); err != nil {
		return nil, err
	}
	return a, nil
}

// Run starts the roles and blocks until ctx ends or a module fails.
func (a *App) Run(ctx context.Context) error {
	if err := a.modules.AddDependency(Serve, a.cfg.Roles...); err != nil {
		return err
	}
	order, err := a.modules.Resolve(Serve)
	if err != nil {
		return err
	}
	a.logger.Info("starting chorus", "version", Version, "roles", a.cfg.Roles, "modules", order,
		"storage", map[bool]string{true: "sqlite", false: "postgres"}[a.cfg.DatabaseURL == ""],
		"bus", map[bool]string{true: "memory", false: "redis"}[a.cfg.RedisURL == ""])
	return a.modules.RunNotify(ctx, a.cfg.ShutdownTimeout, func() { a.printBanner(); close(a.ready) }, Serve)
}

// Ready is closed once every module has started.
func (a *App) Ready() <-chan struct{} { return a.ready }

// Addr is the HTTP listening address once started.
func (a *App) Addr() string {
	if a.server == nil {
		return ""
	}
	return a.server.Addr()
}

func (a *App) printBanner() {
	if a.out == nil {
		return
	}
	base := a.cfg.URL()
	fmt.Fprintf(a.out, "\nChorus %s is running (roles: %v)\n", Version, a.cfg.Roles)
	fmt.Fprintf(a.out, "  Listening on   %s\n", a.server.Addr())
	fmt.Fprintf(a.out, "  Agent app      %s/\n", base)
	fmt.Fprintf(a.out, "  Health         %s/healthz  %s/readyz  %s/metrics\n", base, base, base)
	if a.banner != nil {
		fmt.Fprintf(a.out, "  Demo page      %s/demo   (a website with the chat widget)\n", base)
		fmt.Fprintf(a.out, "  Tenant         %s\n", a.banner.TenantID)
		fmt.Fprintf(a.out, "  Admin login    %s\n", a.banner.AdminEmail)
		if a.banner.AdminPassword != "" {
			fmt.Fprintf(a.out, "  Admin password %s   (shown once: keep it; `chorus tenant create` makes more tenants)\n", a.banner.AdminPassword)
		} else {
			fmt.Fprintf(a.out, "  Admin password (printed on the first run only)\n")
		}
		fmt.Fprintf(a.out, "  Widget key     %s\n", a.banner.WidgetKey)
	}
	fmt.Fprintln(a.out)
}

func (a *App) registerPoolMetrics(db *postgres.DB) {
	reg := a.server.Registry
	gauge := func(name, help string, f func() float64) {
		_ = reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
	}
	gauge("chorus_db_pool_total_conns", "Connections in the PostgreSQL pool.", func() float64 { return float64(db.Stats().TotalConns()) })
	gauge("chorus_db_pool_idle_conns", "Idle connections in the PostgreSQL pool.", func() float64 { return float64(db.Stats().IdleConns()) })
	gauge("chorus_db_pool_acquired_conns", "Acquired connections in the PostgreSQL pool.", func() float64 { return float64(db.Stats().AcquiredConns()) })
	gauge("chorus_db_pool_max_conns", "Maximum connections of the PostgreSQL pool.", func() float64 { return float64(db.Stats().MaxConns()) })
	_ = reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "chorus_db_pool_acquire_wait_seconds_total", Help: "Time spent waiting for a pool connection."},
		func() float64 { return db.Stats().AcquireDuration().Seconds() }))
}

func (a *App) registerSQLiteMetrics(db *sqlite.DB) {
	reg := a.server.Registry
	_ = reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "chorus_sqlite_transactions_total",
		Help: "SQLite write transactions (group commits)."}, func() float64 { tx, _ := db.WriteStats(); return float64(tx) }))
	_ = reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "chorus_sqlite_writes_total",
		Help: "Writes carried by SQLite write transactions (writes / transactions = batch size)."}, func() float64 { _, w := db.WriteStats(); return float64(w) }))
}

func serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/yaml; charset=utf-8")
	_, _ = w.Write(docs.OpenAPI)
}
