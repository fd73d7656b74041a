package server

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"runtime/debug"
	"slices"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/enkisys/chorus/internal/chorus"
)

type httpMetrics struct {
	duration *prometheus.HistogramVec
	inflight prometheus.Gauge
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "chorus_http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern, method and status class.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route", "method", "status"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{Name: "chorus_http_requests_in_flight", Help: "HTTP requests being served."}),
	}
	reg.MustRegister(m.duration, m.inflight)
	return m
}

// reqInfo is per-request state that inner handlers fill in for the outer
// middleware (the tenant for the access log).
type reqInfo struct {
	tenantID string
}

type reqInfoKey struct{}

// AnnotateTenant records the request's tenant for the access log.
func AnnotateTenant(ctx context.Context, tenantID string) {
	if ri, ok := ctx.Value(reqInfoKey{}).(*reqInfo); ok {
		ri.tenantID = tenantID
	}
}

func newRequestID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// requestID assigns a request id (a valid incoming X-Request-ID is kept),
// and puts a request-scoped logger in the context.
func (s *Server) requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-ID")
		if !chorus.ValidID(id) || len(id) > 64 {
			id = newRequestID()
		}
		w.Header().Set("X-Request-ID", id)
		ri := &reqInfo{}
		ctx := context.WithValue(r.Context(), reqInfoKey{}, ri)
		ctx = context.WithValue(ctx, loggerKey{}, s.logger.With("request_id", id))
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// statusWriter records the status; it keeps Hijack for WebSocket upgrades.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += n
	return n, err
}

func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("server: response does not support hijacking")
	}
	w.status = http.StatusSwitchingProtocols
	return h.Hijack()
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// observe logs each request once (never the query string: it may carry a
// token) and records its latency by route pattern.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		s.metrics.inflight.Inc()
		defer s.metrics.inflight.Dec()
		next.ServeHTTP(sw, r)
		took := time.Since(start)
		route := "unmatched"
		if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
			route = rc.RoutePattern()
		}
		status := sw.status
		if status == 0 {
			status = http.StatusOK
		}
		if status != http.StatusSwitchingProtocols {
			s.metrics.duration.WithLabelValues(route, r.Method, strconv.Itoa(status/100)+"xx").Observe(took.Seconds())
		}
		if route == "/healthz" || route == "/readyz" || route == "/metrics" {
			return
		}
		l := LoggerFrom(r.Context())
		attrs := []any{"method", r.Method, "route", route, "status", status, "duration_ms", float64(took.Microseconds()) / 1000, "bytes", sw.bytes}
		if ri, ok := r.Context().Value(reqInfoKey{}).(*reqInfo); ok && ri.tenantID != "" {
			attrs = append(attrs, "tenant_id", ri.tenantID)
		}
		l.InfoContext(r.Context(), "http request", attrs...)
	})
}

// recoverer turns a panic into a 500 with no internals; the stack goes to the log.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				l := LoggerFrom(r.Context())
				if l == nil {
					l = s.logger
				}
				l.ErrorContext(r.Context(), "panic serving request", "panic", v, "stack", string(debug.Stack()))
				writeJSONError(w, http.StatusInternalServerError, chorus.EINTERNAL, "An internal error occurred.")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "strict-origin-when-cross-origin")
		h.Set("X-Frame-Options", "DENY")
		// API answers are data, never documents; the web handler replaces
		// this with the app's own policy on its pages.
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		next.ServeHTTP(w, r)
	})
}

// cors allows configured origins to call the API (and the public widget
// endpoint from any origin: its own Origin check is per channel).
func (s *Server) cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin != "" {
			allowed := slices.Contains(s.cfg.CORSOrigins, origin) || r.URL.Path == "/api/v1/widget/sessions"
			if allowed {
				h := w.Header()
				h.Set("Access-Control-Allow-Origin", origin)
				h.Add("Vary", "Origin")
				h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Tenant-ID, X-Request-ID")
				h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS")
				h.Set("Access-Control-Max-Age", "600")
				if r.Method == http.MethodOptions {
					w.WriteHeader(http.StatusNoContent)
					return
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > s.cfg.MaxBodyBytes {
			WriteError(w, r, chorus.Errorf(chorus.ETOOLARGE, "Request body is larger than %d bytes.", s.cfg.MaxBodyBytes))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
		next.ServeHTTP(w, r)
	})
}
