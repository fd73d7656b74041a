// Package server is the shared HTTP server: one chi router that every module
// mounts its routes on, the middleware stack (request ids, logs, metrics,
// limits, security headers), health and readiness, and the one place where
// chorus error codes become HTTP statuses.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Config of the server.
type Config struct {
	Addr          string
	TLSCert       string
	TLSKey        string
	ShutdownDelay time.Duration
	MaxBodyBytes  int64
	CORSOrigins   []string
	Version       string
}

// Checker reports whether a dependency is ready (database, Redis).
type Checker func(ctx context.Context) error

// Server owns the router and the listener.
type Server struct {
	cfg      Config
	logger   *slog.Logger
	router   chi.Router
	api      chi.Router
	Registry *prometheus.Registry
	metrics  *httpMetrics
	httpSrv  *http.Server
	ln       net.Listener

	mu       sync.Mutex
	checks   map[string]Checker
	draining atomic.Bool
	// open is set by Open once every module has started: until then
	// starting (health, readiness, metrics, 503 for the rest) answers, so
	// that no request meets a router whose routes are still being added.
	open     atomic.Bool
	starting http.Handler
	fallback atomic.Pointer[http.Handler]
	onDrain  []func()
	serveErr chan error
}

// New builds the server and its router; nothing listens until Start.
func New(cfg Config, logger *slog.Logger) *Server {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "chorus_build_info", Help: "Build information."}, []string{"version"})
	buildInfo.WithLabelValues(cfg.Version).Set(1)
	reg.MustRegister(buildInfo)
	s := &Server{
		cfg:      cfg,
		logger:   logger,
		Registry: reg,
		metrics:  newHTTPMetrics(reg),
		checks:   map[string]Checker{},
		serveErr: make(chan error, 1),
	}
	metrics := promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
	// operational adds what both routers serve: health, readiness, metrics.
	operational := func(r chi.Router) {
		r.Get("/healthz", s.healthz)
		r.Get("/readyz", s.readyz)
		r.Handle("/metrics", metrics)
	}
	r := chi.NewRouter()
	r.Use(s.requestID, s.recoverer, s.observe, securityHeaders, s.cors)
	operational(r)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		if fb := s.fallback.Load(); fb != nil && !strings.HasPrefix(r.URL.Path, "/api/") && !strings.HasPrefix(r.URL.Path, "/ws/") {
			(*fb).ServeHTTP(w, r)
			return
		}
		WriteError(w, r, errNotFound)
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		writeJSONError(w, http.StatusMethodNotAllowed, "method_not_allowed", "Method not allowed on this path.")
	})
	s.router = r
	s.api = r.Route("/api/v1", func(r chi.Router) {
		r.Use(s.limitBody)
	})
	st := chi.NewRouter()
	st.Use(s.requestID, s.recoverer, s.observe, securityHeaders)
	operational(st)
	st.NotFound(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "1")
		WriteError(w, r, errStarting)
	})
	s.starting = st
	return s
}

// Open switches from the start-up handler to the full router: call it once
// every module has added its routes (none may be added after). Until then
// /readyz answers 503 "starting" and every other path 503 unavailable.
func (s *Server) Open() { s.open.Store(true) }

// serveHTTP is the listener's handler: the full router once open.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if s.open.Load() {
		s.router.ServeHTTP(w, r)
		return
	}
	s.starting.ServeHTTP(w, r)
}

// Router is the root router (for /ws, static files).
func (s *Server) Router() chi.Router { return s.router }

// API is the /api/v1 sub-router, with the body limit applied.
func (s *Server) API() chi.Router { return s.api }

// Handler is the whole HTTP handler (for tests with httptest).
func (s *Server) Handler() http.Handler { return s.router }

// SetFallback serves every path outside /api/ and /ws/ that no route
// matched (the web app and its client-side routes).
func (s *Server) SetFallback(h http.Handler) { s.fallback.Store(&h) }

// AddCheck registers a readiness check.
func (s *Server) AddCheck(name string, c Checker) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks[name] = c
}

// OnDrain registers a function run when the server starts draining (before
// connections close), e.g. to stop accepting WebSocket upgrades.
func (s *Server) OnDrain(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onDrain = append(s.onDrain, f)
}

// Draining reports whether shutdown has begun.
func (s *Server) Draining() bool { return s.draining.Load() }

// Addr is the listening address once started.
func (s *Server) Addr() string {
	if s.ln == nil {
		return s.cfg.Addr
	}
	return s.ln.Addr().String()
}

// Start listens and serves in the background.
func (s *Server) Start(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("server: listen on %s: %w", s.cfg.Addr, err)
	}
	s.ln = ln
	s.httpSrv = &http.Server{
		Handler:           http.HandlerFunc(s.serveHTTP),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	if s.cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(s.cfg.TLSCert, s.cfg.TLSKey)
		if err != nil {
			_ = ln.Close()
			return fmt.Errorf("server: load TLS key pair: %w", err)
		}
		s.httpSrv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}}
		s.ln = tls.NewListener(ln, s.httpSrv.TLSConfig)
	}
	go func() {
		err := s.httpSrv.Serve(s.ln)
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.serveErr <- err
		}
	}()
	s.logger.Info("http server listening", "addr", s.ln.Addr().String(), "tls", s.cfg.TLSCert != "")
	return nil
}

// Failed reports a listener failure after Start.
func (s *Server) Failed() <-chan error { return s.serveErr }

// Drain flips /readyz to 503, runs the drain hooks and waits ShutdownDelay
// so that load balancers stop sending new connections. Safe to call twice.
func (s *Server) Drain(ctx context.Context) {
	if s.draining.Swap(true) {
		return
	}
	s.mu.Lock()
	hooks := append([]func(){}, s.onDrain...)
	s.mu.Unlock()
	if s.cfg.ShutdownDelay > 0 {
		s.logger.Info("draining: readiness is 503", "delay", s.cfg.ShutdownDelay.String())
		select {
		case <-time.After(s.cfg.ShutdownDelay):
		case <-ctx.Done():
		}
	}
	for _, h := range hooks {
		h()
	}
}

// Stop drains, then shuts the HTTP server down (waiting for requests in
// flight until ctx expires). Hijacked WebSocket connections are closed by
// the gateway's own Stop, which runs first.
func (s *Server) Stop(ctx context.Context) error {
	s.Drain(ctx)
	if s.httpSrv == nil {
		return nil
	}
	err := s.httpSrv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		return s.httpSrv.Close()
	}
	return err
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		WriteJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "draining"})
		return
	}
	s.mu.Lock()
	checks := make(map[string]Checker, len(s.checks))
	for k, v := range s.checks {
		checks[k] = v
	}
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	result := map[string]string{}
	ok := true
	for name, c := range checks {
		if err := c(ctx); err != nil {
			ok = false
			result[name] = "unavailable"
			s.logger.Warn("readiness check failed", "check", name, "err", err)
		} else {
			result[name] = "ok"
		}
	}
	status, word := http.StatusOK, "ready"
	switch {
	case !s.open.Load():
		status, word = http.StatusServiceUnavailable, "starting"
	case !ok:
		status, word = http.StatusServiceUnavailable, "unavailable"
	}
	WriteJSON(w, status, map[string]any{"status": word, "checks": result})
}
