package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/go-chi/chi/v5/middleware"
	"github.com/redis/go-redis/v9"

	"github.com/enkisys/chorus/internal/auth"
	"github.com/enkisys/chorus/internal/bus"
	"github.com/enkisys/chorus/internal/chat"
	"github.com/enkisys/chorus/internal/chorus"
	"github.com/enkisys/chorus/internal/gateway"
	"github.com/enkisys/chorus/internal/module"
	"github.com/enkisys/chorus/internal/notify"
	"github.com/enkisys/chorus/internal/postgres"
	"github.com/enkisys/chorus/internal/ratelimit"
	"github.com/enkisys/chorus/internal/server"
	"github.com/enkisys/chorus/internal/sqlite"
	"github.com/enkisys/chorus/web"
)

// Module names. The visible ones are the roles; the rest are infrastructure.
const (
	Gateway  = "gateway"
	Chat     = "chat"
	Presence = "presence"
	Summary  = "summary"
	Notify   = "notify"
	Web      = "web"
	All      = "all"

	Server    = "server"
	Store     = "store"
	Redis     = "redis"
	Bus       = "bus"
	Limiter   = "limiter"
	Auth      = "auth"
	ChatCore  = "chat-core"
	Bootstrap = "bootstrap"
	Serve     = "serve"
)

// Roles are the names users can give to --roles.
var Roles = []string{All, Gateway, Chat, Presence, Summary, Notify, Web}

// deps is the one dependency table.
var deps = map[string][]string{
	Store:     {Server}, // the listener answers /healthz and /readyz (503) while the database is retried
	Redis:     {Server}, // initRedis returns nothing to run when no Redis URL is set
	Bus:       {Redis},  // Redis pub/sub, or in-process
	Limiter:   {Redis},  // Redis GCRA, or in-process buckets
	Auth:      {Store},  // the generated secret lives in the data dir
	ChatCore:  {Store, Bus, Limiter, Auth},
	Bootstrap: {ChatCore},         // demo tenant on first run (embedded)
	Chat:      {Server, ChatCore}, // REST API
	Gateway:   {Server, ChatCore}, // WebSockets: persists through the chat service, fans out through the bus
	Presence:  {Store, Bus, Redis},
	Summary:   {Store},
	Notify:    {Store},
	Web:       {Server, Bootstrap},
	All:       {Gateway, Chat, Presence, Summary, Notify, Web},
}

// register builds the module table on a.
func (a *App) register() error {
	m := a.modules
	m.Register(Server, a.initServer, true)
	m.Register(Store, a.initStore, true)
	m.Register(Redis, a.initRedis, true)
	m.Register(Bus, a.initBus, true)
	m.Register(Limiter, a.initLimiter, true)
	m.Register(Auth, a.initAuth, true)
	m.Register(ChatCore, a.initChatCore, true)
	m.Register(Bootstrap, a.initBootstrap, true)
	m.Register(Serve, a.initServe, true)
	m.Register(Chat, a.initChat, false)
	m.Register(Gateway, a.initGateway, false)
	m.Register(Presence, a.initPresence, false)
	m.Register(Summary, a.initSummary, false)
	m.Register(Notify, a.initNotify, false)
	m.Register(Web, a.initWeb, false)
	m.Register(All, func() (module.Service, error) { return nil, nil }, false)
	for name, d := range deps {
		if err := m.AddDependency(name, d...); err != nil {
			return err
		}
	}
	return nil
}

func (a *App) initServer() (module.Service, error) {
	a.server = server.New(server.Config{
		Addr: a.cfg.HTTPAddr, TLSCert: a.cfg.TLSCert, TLSKey: a.cfg.TLSKey, ShutdownDelay: a.cfg.ShutdownDelay,
		MaxBodyBytes: a.cfg.MaxBodyBytes, CORSOrigins: a.cfg.CORSOrigins, Version: Version,
	}, a.logger)
	if a.cfg.Pprof {
		a.server.Router().Mount("/debug", middleware.Profiler())
	}
	return module.FuncService{
		StartFunc: a.server.Start,
		// The listener closes in the serve module's Stop; nothing is left here.
	}, nil
}

// initServe is started last and stopped first. Its Start opens the full
// router (until then the server answers health, readiness "starting" and
// 503 for the rest: no request meets a half-built router); its Stop drains
// (readiness 503, then no new upgrades) and shuts the HTTP server down while
// the modules behind it are still up.
func (a *App) initServe() (module.Service, error) {
	return module.FuncService{
		StartFunc: func(context.Context) error { a.server.Open(); return nil },
		StopFunc:  a.server.Stop,
	}, nil
}

// retry calls f with exponential backoff until it succeeds or ctx ends,
// logging why it waits.
func (a *App) retry(ctx context.Context, what string, f func(context.Context) error) error {
	delay := 250 * time.Millisecond
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := f(actx)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w (gave up: %w)", what, err, context.Cause(ctx))
		}
		a.logger.Warn(what+" unavailable, retrying", "attempt", attempt, "retry_in", delay.String(), "err", err)
		select {
		case <-time.After(delay):
		case <-ctx.Done():
		}
		delay = min(delay*2, 10*time.Second)
	}
}

func (a *App) initStore() (module.Service, error) {
	svc := module.FuncService{
		StartFunc: func(ctx context.Context) error {
			if a.cfg.DatabaseURL == "" {
				if err := os.MkdirAll(a.cfg.DataDir, 0o700); err != nil {
					return fmt.Errorf("create data dir %s: %w", a.cfg.DataDir, err)
				}
				db, err := sqlite.Open(ctx, filepath.Join(a.cfg.DataDir, "chorus.db"), a.logger.With("module", Store))
				if err != nil {
					return err
				}
				a.store = db
				a.registerSQLiteMetrics(db)
			} else {
				ready := errors.New("connecting")
				a.server.AddCheck("database", func(context.Context) error { return ready })
				err := a.retry(ctx, "database", func(ctx context.Context) error {
					db, err := postgres.Open(ctx, a.cfg.DatabaseURL, a.logger.With("module", Store))
					if err != nil {
						return err
					}
					a.store = db
					a.registerPoolMetrics(db)
					return nil
				})
				if err != nil {
					return err
				}
			}
			a.server.AddCheck("database", a.store.Ping)
			return nil
		},
		StopFunc: func(context.Context) error {
			if a.store == nil {
				return nil
			}
			return a.store.Close()
		},
	}
	return svc, nil
}

func (a *App) initRedis() (module.Service, error) {
	if a.cfg.RedisURL == "" {
		return nil, nil
	}
	opt, err := redis.ParseURL(a.cfg.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("redis-url: %w", err)
	}
	return module.FuncService{
		StartFunc: func(ctx context.Context) error {
			a.redis = redis.NewClient(opt)
			a.server.AddCheck("redis", func(ctx context.Context) error { return a.redis.Ping(ctx).Err() })
			return a.retry(ctx, "redis", func(ctx context.Context) error { return a.redis.Ping(ctx).Err() })
		},
		StopFunc: func(context.Context) error {
			if a.redis == nil {
				return nil
			}
			return a.redis.Close()
		},
	}, nil
}

func (a *App) initBus() (module.Service, error) {
	return module.FuncService{
		StartFunc: func(context.Context) error {
			if a.redis != nil {
				a.bus = bus.NewRedis(a.redis, a.cfg.RedisPrefix+"bus:", a.logger.With("module", Bus))
			} else {
				a.bus = bus.NewMemory()
			}
			return nil
		},
		StopFunc: func(context.Context) error {
			if a.bus == nil {
				return nil
			}
			return a.bus.Close()
		},
	}, nil
}

func (a *App) initLimiter() (module.Service, error) {
	if a.redis != nil {
		a.limiter = ratelimit.NewRedis(a.redis, a.cfg.RedisPrefix+"rl:")
	} else {
		a.limiter = ratelimit.NewMemory()
	}
	return nil, nil
}

func (a *App) initAuth() (module.Service, error) {
	secret, err := a.secret()
	if err != nil {
		return nil, err
	}
	a.jwtSecret = secret
	ctx, cancel := context.WithCancel(context.Background())
	v, err := auth.NewVerifier(ctx, auth.Config{
		Secret: secret, JWKSURL: a.cfg.JWKSURL, Issuer: a.cfg.JWTIssuer, Audience: a.cfg.JWTAudience,
	}, a.logger.With("module", Auth))
	if err != nil {
		cancel()
		return nil, err
	}
	v.ErrorWriter = server.WriteError
	a.verifier = v
	return module.FuncService{StopFunc: func(context.Context) error { cancel(); return nil }}, nil
}

// secret is the HS256 secret: configured, or generated once in the data dir.
func (a *App) secret() ([]byte, error) {
	if a.cfg.JWTSecret != "" {
		return []byte(a.cfg.JWTSecret), nil
	}
	if !a.cfg.Embedded() {
		return nil, errors.New("jwt-secret: a split deployment needs CHORUS_JWT_SECRET (the same on every process)")
	}
	if err := os.MkdirAll(a.cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	return auth.LoadOrCreateSecret(filepath.Join(a.cfg.DataDir, "jwt-secret"))
}

func (a *App) initChatCore() (module.Service, error) {
	l := a.cfg.Limits
	perMin := func(n int) chorus.Limit { return chorus.Limit{Rate: n, Per: time.Minute, Burst: max(n, 1)} }
	secret := a.jwtSecret
	a.chat = chat.NewService(chat.Config{
		Limits: chat.Limits{
			WidgetSessionsPerIP:  perMin(l.WidgetSessionsPerIP),
			WidgetSessionsPerKey: perMin(l.WidgetSessionsPerKey),
			LoginPerIP:           perMin(l.LoginPerIP),
			LoginPerAccount:      chorus.Limit{Rate: l.LoginPerAccount, Per: 15 * time.Minute, Burst: max(l.LoginPerAccount, 1)},
			MessagesPerVisitor:   perMin(l.MessagesPerVisitorMin),
			APIPerTenant:         chorus.Limit{Rate: l.APIPerTenantSecond, Per: time.Second, Burst: 2 * l.APIPerTenantSecond},
		},
	}, chat.Deps{
		Store: a.store, Bus: a.bus, Limiter: a.limiter, Registry: a.server.Registry,
		Issue: func(c chat.TokenClaims, ttl time.Duration) (string, time.Time, error) {
			return auth.Issue(secret, auth.Claims{
				Subject: c.Subject, TenantID: c.TenantID, Roles: c.Roles, ConversationID: c.ConversationID,
				Name: c.Name, Email: c.Email,
			}, ttl)
		},
		Check: auth.CheckPassword,
		Hash:  auth.HashPassword,
	}, a.logger.With("module", Chat))
	return nil, nil
}

func (a *App) initChat() (module.Service, error) {
	m := chat.NewModule(a.chat, a.verifier.Middleware(a.chat.Provision))
	a.server.API().Group(m.Routes)
	a.server.Router().Get("/api/v1/openapi.yaml", serveOpenAPI)
	return m, nil
}

func (a *App) initGateway() (module.Service, error) {
	g := gateway.New(gateway.Config{
		SendBuffer: a.cfg.Gateway.SendBuffer, PingInterval: a.cfg.Gateway.PingInterval, WriteTimeout: a.cfg.Gateway.WriteTimeout,
		MessagesPerSecond: a.cfg.Limits.MessagesPerConnSecond,
		SocketsPerVisitor: a.cfg.Limits.SocketsPerVisitor, SocketsPerIP: a.cfg.Limits.SocketsPerIP,
		AllowedOrigins: a.cfg.CORSOrigins,
	}, a.chat, a.verifier, a.server.Registry, a.logger.With("module", Gateway))
	g.Routes(a.server.Router())
	a.server.OnDrain(g.Drain)
	a.gateway = g
	return g, nil
}

func (a *App) initPresence() (module.Service, error) { return nil, nil }

func (a *App) initSummary() (module.Service, error) { return nil, nil }

func (a *App) initNotify() (module.Service, error) {
	return notify.New(a.store, a.server.Registry, a.logger.With("module", Notify)), nil
}

func (a *App) initWeb() (module.Service, error) {
	a.server.SetFallback(web.Handler(web.Config{DemoWidgetKey: func() string { return a.demoWidgetKey }}))
	return nil, nil
}

func (a *App) initBootstrap() (module.Service, error) {
	return module.FuncService{StartFunc: func(ctx context.Context) error {
		if !a.cfg.Embedded() || !a.cfg.Demo {
			a.demoWidgetKey = a.cfg.DemoWidgetKey
			return nil
		}
		info, err := bootstrapDemo(ctx, a.store, a.cfg, a.logger)
		if err != nil {
			return fmt.Errorf("bootstrap demo tenant: %w", err)
		}
		a.demoWidgetKey = info.WidgetKey
		a.banner = info
		return nil
	}}, nil
}
