package server

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/enkisys/chorus/internal/chorus"
)

// syncBuffer collects logs written from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type bundle struct {
	srv  *Server
	logs *syncBuffer
	base string
}

// setup builds a server with a few test routes; started ones listen on a
// loopback port and stop at the end of the test.
func setup(t *testing.T, cfg Config, start bool) *bundle {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = 1024
	}
	if cfg.Version == "" {
		cfg.Version = "v9.9.9-test"
	}
	logs := &syncBuffer{}
	s := New(cfg, slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	s.API().Get("/things/{id}", func(w http.ResponseWriter, r *http.Request) {
		AnnotateTenant(r.Context(), "tenant-7")
		WriteJSON(w, http.StatusOK, map[string]string{"id": chi.URLParam(r, "id")})
	})
	s.API().Post("/things", func(w http.ResponseWriter, r *http.Request) {
		var v struct {
			Name string `json:"name"`
		}
		if err := Decode(r, &v); err != nil {
			WriteError(w, r, err)
			return
		}
		WriteJSON(w, http.StatusCreated, v)
	})
	s.API().Get("/boom", func(http.ResponseWriter, *http.Request) {
		panic("kaboom: secret internals at /src/app/handler.go:42")
	})
	s.API().Get("/internal", func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, r, errors.New("postgres: connect to 10.0.0.5:5432: password authentication failed"))
	})
	s.API().Get("/limited", func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, r, &chorus.Error{Code: chorus.ERATELIMITED, Message: "Slow down.", RetryAfterSeconds: 7})
	})
	b := &bundle{srv: s, logs: logs}
	s.Open() // the routes are all added
	if start {
		if err := s.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := s.Stop(ctx); err != nil {
				t.Errorf("stop: %v", err)
			}
		})
		scheme := "http://"
		if cfg.TLSCert != "" {
			scheme = "https://"
		}
		b.base = scheme + s.Addr()
	}
	return b
}

// do serves one request in-process.
func (b *bundle) do(r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	b.srv.Handler().ServeHTTP(w, r)
	return w
}

func errorBody(t *testing.T, body []byte) (code, msg string) {
	t.Helper()
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	return e.Error.Code, e.Error.Message
}

// noInternals fails when a body shows a stack, a panic or source paths.
func noInternals(t *testing.T, body string) {
	t.Helper()
	for _, s := range []string{"goroutine", "panic", ".go:", "runtime/", "kaboom", "10.0.0.5", "password"} {
		if strings.Contains(body, s) {
			t.Errorf("body leaks %q: %s", s, body)
		}
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key, returning the
// file paths and a pool trusting it.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "chorus test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:     []string{"localhost"},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestTLS(t *testing.T) {
	t.Parallel()
	certFile, keyFile, pool := selfSigned(t)
	b := setup(t, Config{TLSCert: certFile, TLSKey: keyFile}, true)
	client := func(maxVersion uint16) *http.Client {
		return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool, MaxVersion: maxVersion, MinVersion: tls.VersionTLS12},
		}}
	}

	t.Run("TLS12Refused", func(t *testing.T) {
		res, err := client(tls.VersionTLS12).Get(b.base + "/healthz")
		if err == nil {
			res.Body.Close()
			t.Fatalf("a TLS 1.2 client was served: %s", res.Proto)
		}
		if !strings.Contains(err.Error(), "protocol version") && !strings.Contains(err.Error(), "handshake") {
			t.Errorf("TLS 1.2 refused with an unexpected error: %v", err)
		}
	})
	t.Run("TLS13ServedWithHSTS", func(t *testing.T) {
		res, err := client(tls.VersionTLS13).Get(b.base + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if res.StatusCode != 200 || res.TLS == nil || res.TLS.Version != tls.VersionTLS13 {
			t.Fatalf("status %d, tls %+v", res.StatusCode, res.TLS)
		}
		if h := res.Header.Get("Strict-Transport-Security"); !strings.HasPrefix(h, "max-age=") || !strings.Contains(h, "includeSubDomains") {
			t.Errorf("HSTS = %q", h)
		}
	})
	t.Run("PlainHTTPNoHSTS", func(t *testing.T) {
		plain := setup(t, Config{}, false)
		w := plain.do(httptest.NewRequest("GET", "/healthz", nil))
		if h := w.Header().Get("Strict-Transport-Security"); h != "" {
			t.Errorf("HSTS over plain HTTP: %q", h)
		}
	})
	if !strings.Contains(b.logs.String(), `"tls":true`) {
		t.Errorf("start log misses tls=true: %s", b.logs.String())
	}
}

func TestStartErrors(t *testing.T) {
	t.Parallel()
	t.Run("BadKeyPair", func(t *testing.T) {
		dir := t.TempDir()
		bad := filepath.Join(dir, "bad.pem")
		_ = os.WriteFile(bad, []byte("not a pem"), 0o600)
		s := New(Config{Addr: "127.0.0.1:0", TLSCert: bad, TLSKey: bad}, slog.New(slog.DiscardHandler))
		if err := s.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "server: load TLS key pair") {
			t.Fatalf("start = %v", err)
		}
	})
	t.Run("AddressInUse", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		s := New(Config{Addr: ln.Addr().String()}, slog.New(slog.DiscardHandler))
		if s.Addr() != ln.Addr().String() {
			t.Errorf("Addr before start = %q", s.Addr())
		}
		if err := s.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "server: listen on") {
			t.Fatalf("start = %v", err)
		}
		// Stop without a successful Start is harmless.
		if err := s.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ListenerFailure", func(t *testing.T) {
		s := New(Config{Addr: "127.0.0.1:0"}, slog.New(slog.DiscardHandler))
		if err := s.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		_ = s.ln.Close() // the listener dies under the server
		select {
		case err := <-s.Failed():
			if err == nil {
				t.Fatal("nil failure")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("listener failure not reported")
		}
		_ = s.Stop(context.Background())
	})
}

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{ShutdownDelay: 300 * time.Millisecond}, false)

	w := b.do(httptest.NewRequest("GET", "/healthz", nil))
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"ok"`) {
		t.Fatalf("healthz = %d %s", w.Code, w.Body)
	}
	w = b.do(httptest.NewRequest("GET", "/readyz", nil))
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"ready"`) {
		t.Fatalf("readyz without checks = %d %s", w.Code, w.Body)
	}

	var dbErr atomic.Value
	dbErr.Store(errors.New("connecting"))
	b.srv.AddCheck("database", func(context.Context) error {
		if err, _ := dbErr.Load().(error); err != nil && err.Error() != "" {
			return err
		}
		return nil
	})
	b.srv.AddCheck("redis", func(context.Context) error { return nil })
	w = b.do(httptest.NewRequest("GET", "/readyz", nil))
	var ready struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	_ = json.Unmarshal(w.Body.Bytes(), &ready)
	if w.Code != 503 || ready.Status != "unavailable" || ready.Checks["database"] != "unavailable" || ready.Checks["redis"] != "ok" {
		t.Fatalf("readyz with a failing check = %d %s", w.Code, w.Body)
	}
	if strings.Contains(w.Body.String(), "connecting") {
		t.Errorf("readyz shows the check's error: %s", w.Body)
	}
	if !strings.Contains(b.logs.String(), "readiness check failed") {
		t.Error("failing check not logged")
	}
	dbErr.Store(errors.New(""))
	if w = b.do(httptest.NewRequest("GET", "/readyz", nil)); w.Code != 200 {
		t.Fatalf("readyz after recovery = %d %s", w.Code, w.Body)
	}

	// Draining: 503 at once, the hooks run after the delay, twice is harmless.
	var hooks atomic.Int32
	b.srv.OnDrain(func() { hooks.Add(1) })
	b.srv.OnDrain(func() { hooks.Add(1) })
	done := make(chan struct{})
	go func() { b.srv.Drain(context.Background()); close(done) }()
	deadline := time.Now().Add(2 * time.Second)
	for !b.srv.Draining() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	w = b.do(httptest.NewRequest("GET", "/readyz", nil))
	if w.Code != 503 || !strings.Contains(w.Body.String(), "draining") {
		t.Fatalf("readyz while draining = %d %s", w.Code, w.Body)
	}
	if n := hooks.Load(); n != 0 {
		t.Errorf("drain hooks ran before the shutdown delay: %d", n)
	}
	<-done
	if n := hooks.Load(); n != 2 {
		t.Errorf("drain hooks ran %d times, want 2", n)
	}
	b.srv.Drain(context.Background())
	if n := hooks.Load(); n != 2 {
		t.Errorf("second Drain ran hooks again: %d", n)
	}
	if w = b.do(httptest.NewRequest("GET", "/healthz", nil)); w.Code != 200 {
		t.Errorf("healthz while draining = %d", w.Code)
	}
	if !strings.Contains(b.logs.String(), "draining: readiness is 503") {
		t.Error("drain not logged")
	}
}

func TestDrainDelayEndsWithContext(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{ShutdownDelay: time.Hour}, false)
	ran := make(chan struct{})
	b.srv.OnDrain(func() { close(ran) })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	b.srv.Drain(ctx)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Drain waited %s past its context", d)
	}
	select {
	case <-ran:
	default:
		t.Fatal("hooks did not run after the context ended")
	}
}

func TestStopClosesSlowRequests(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{}, false)
	release := make(chan struct{})
	started := make(chan struct{})
	b.srv.Router().Get("/slow", func(w http.ResponseWriter, r *http.Request) {
		close(started)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	if err := b.srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer close(release)
	go func() {
		res, err := http.Get("http://" + b.srv.Addr() + "/slow")
		if err == nil {
			res.Body.Close()
		}
	}()
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := b.srv.Stop(ctx); err != nil {
		t.Fatalf("stop with a request in flight past the deadline = %v (want a forced close)", err)
	}
	if _, err := http.Get("http://" + b.srv.Addr() + "/healthz"); err == nil {
		t.Fatal("server still serving after Stop")
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{}, false)
	for _, p := range []string{"/api/v1/things/1", "/api/v1/things/2", "/api/v1/nope", "/healthz"} {
		b.do(httptest.NewRequest("GET", p, nil))
	}
	w := b.do(httptest.NewRequest("GET", "/metrics", nil))
	if w.Code != 200 {
		t.Fatalf("metrics = %d", w.Code)
	}
	body := w.Body.String()
	for _, want := range []string{
		`chorus_build_info{version="v9.9.9-test"} 1`,
		`chorus_http_request_duration_seconds_count{method="GET",route="/api/v1/things/{id}",status="2xx"} 2`,
		`chorus_http_request_duration_seconds_count{method="GET",route="/api/v1/*",status="4xx"} 1`,
		`chorus_http_request_duration_seconds_bucket{method="GET",route="/healthz",status="2xx",le="0.0005"}`,
		"chorus_http_requests_in_flight",
		"go_goroutines",
		"process_",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics miss %q", want)
		}
	}
	if strings.Contains(body, `route="/api/v1/things/1"`) {
		t.Error("metrics are labelled by raw path (unbounded cardinality)")
	}
}

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{}, false)
	for _, p := range []string{"/healthz", "/api/v1/things/1", "/api/v1/nope", "/metrics", "/api/v1/boom"} {
		w := b.do(httptest.NewRequest("GET", p, nil))
		if w.Header().Get("X-Content-Type-Options") != "nosniff" || w.Header().Get("Referrer-Policy") != "strict-origin-when-cross-origin" {
			t.Errorf("%s: headers %v", p, w.Header())
		}
	}
	w := b.do(httptest.NewRequest("GET", "/api/v1/things/1", nil))
	if ct := w.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" || w.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("JSON headers: %v", w.Header())
	}
}

func TestCORS(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{CORSOrigins: []string{"https://app.example"}}, false)
	preflight := func(origin, path string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("OPTIONS", path, nil)
		r.Header.Set("Origin", origin)
		r.Header.Set("Access-Control-Request-Method", "POST")
		r.Header.Set("Access-Control-Request-Headers", "authorization, x-tenant-id")
		return b.do(r)
	}
	w := preflight("https://app.example", "/api/v1/things")
	h := w.Header()
	if w.Code != 204 || h.Get("Access-Control-Allow-Origin") != "https://app.example" ||
		!strings.Contains(h.Get("Access-Control-Allow-Headers"), "X-Tenant-ID") ||
		!strings.Contains(h.Get("Access-Control-Allow-Headers"), "Authorization") ||
		!strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") || h.Get("Vary") != "Origin" {
		t.Fatalf("preflight from the configured origin = %d %v", w.Code, h)
	}
	if h.Get("Access-Control-Allow-Credentials") != "" {
		t.Error("credentials allowed: tokens are bearer headers, cookies are never needed")
	}
	for _, o := range []string{"https://evil.example", "https://app.example.evil.example", "null", "https://APP.example"} {
		w := preflight(o, "/api/v1/things")
		if got := w.Header().Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("preflight from %s allowed: %q", o, got)
		}
		r := httptest.NewRequest("GET", "/api/v1/things/1", nil)
		r.Header.Set("Origin", o)
		if got := b.do(r).Header().Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("GET from %s allowed: %q", o, got)
		}
	}
	// A simple request from the allowed origin carries the header too.
	r := httptest.NewRequest("GET", "/api/v1/things/1", nil)
	r.Header.Set("Origin", "https://app.example")
	if w := b.do(r); w.Code != 200 || w.Header().Get("Access-Control-Allow-Origin") != "https://app.example" {
		t.Errorf("GET from the allowed origin = %d %v", w.Code, w.Header())
	}
	// The public widget endpoint answers any origin (its check is per channel).
	if w := preflight("https://shop.example", "/api/v1/widget/sessions"); w.Code != 204 || w.Header().Get("Access-Control-Allow-Origin") != "https://shop.example" {
		t.Errorf("widget preflight = %d %v", w.Code, w.Header())
	}
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{MaxBodyBytes: 1024}, true)
	big := `{"name":"` + strings.Repeat("x", 2000) + `"}`

	// Declared length over the limit: refused before reading.
	w := b.do(httptest.NewRequest("POST", "/api/v1/things", strings.NewReader(big)))
	if code, msg := errorBody(t, w.Body.Bytes()); w.Code != 413 || code != "too_large" || !strings.Contains(msg, "1024") {
		t.Fatalf("declared oversize = %d %s", w.Code, w.Body)
	}
	// Unknown length (chunked) over the limit: cut while reading.
	req, _ := http.NewRequest("POST", b.base+"/api/v1/things", io.MultiReader(strings.NewReader(big)))
	req.ContentLength = -1
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if code, _ := errorBody(t, body); res.StatusCode != 413 || code != "too_large" {
		t.Fatalf("chunked oversize = %d %s", res.StatusCode, body)
	}
	// Within the limit.
	w = b.do(httptest.NewRequest("POST", "/api/v1/things", strings.NewReader(`{"name":"ok"}`)))
	if w.Code != 201 {
		t.Fatalf("small body = %d %s", w.Code, w.Body)
	}
	if !strings.Contains(b.logs.String(), `"status":413`) {
		t.Error("413 missing from the access log")
	}
	if strings.Contains(b.logs.String(), `"level":"ERROR"`) {
		t.Errorf("a 413 was logged as an error: %s", b.logs.String())
	}
}

func TestDecode(t *testing.T) {
	t.Parallel()
	type target struct {
		Name  string            `json:"name"`
		Seq   int64             `json:"seq"`
		On    bool              `json:"on"`
		Tags  []string          `json:"tags"`
		Meta  map[string]string `json:"meta"`
		Inner struct{ A int }   `json:"inner"`
		Pair  [2]int            `json:"pair"`
	}
	cases := []struct {
		name, ct, body string
		code, msg      string
	}{
		{"ok", "application/json", `{"name":"x","seq":3}`, "", ""},
		{"ok charset", "Application/JSON; charset=utf-8", `{"name":"x"}`, "", ""},
		{"ok no content type", "", `{"name":"x"}`, "", ""},
		{"text/plain", "text/plain", `{"name":"x"}`, chorus.EINVALID, "Content-Type must be application/json."},
		{"form", "application/x-www-form-urlencoded", `name=x`, chorus.EINVALID, "Content-Type"},
		{"empty", "application/json", ``, chorus.EINVALID, "Request body is empty"},
		{"malformed", "application/json", `{"name": }`, chorus.EINVALID, "Malformed JSON at byte"},
		{"truncated", "application/json", `{"name": "x"`, chorus.EINVALID, "unexpected end of input"},
		{"string for number", "application/json", `{"seq":"1"}`, chorus.EINVALID, "seq: must be a number."},
		{"number for string", "application/json", `{"name":1}`, chorus.EINVALID, "name: must be a string."},
		{"string for bool", "application/json", `{"on":"yes"}`, chorus.EINVALID, "on: must be a boolean."},
		{"object for array", "application/json", `{"tags":{}}`, chorus.EINVALID, "tags: must be an array."},
		{"array for map", "application/json", `{"meta":[]}`, chorus.EINVALID, "meta: must be an object."},
		{"number for struct", "application/json", `{"inner":1}`, chorus.EINVALID, "inner: must be an object."},
		{"string for fixed array", "application/json", `{"pair":"x"}`, chorus.EINVALID, "pair: must be of another type."},
		{"array body", "application/json", `[1,2]`, chorus.EINVALID, "Request body must be a JSON object."},
		{"string body", "application/json", `"x"`, chorus.EINVALID, "Request body must be a JSON object."},
		{"two objects", "application/json", `{"name":"a"}{"name":"b"}`, chorus.EINVALID, "single JSON object"},
		{"trailing garbage", "application/json", `{"name":"a"} x`, chorus.EINVALID, "Malformed JSON"},
		{"invalid utf-8", "application/json", "{\"name\":\"\xff\xfe\"}", chorus.EINVALID, "UTF-8"},
		{"deep nesting", "application/json", strings.Repeat(`{"a":`, 20000) + `1` + strings.Repeat(`}`, 20000), chorus.EINVALID, ""},
		{"huge number", "application/json", `{"seq":1e400}`, chorus.EINVALID, ""},
		{"overflow", "application/json", `{"seq":9223372036854775808}`, chorus.EINVALID, "seq: must be a number."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("POST", "/", strings.NewReader(c.body))
			if c.ct != "" {
				r.Header.Set("Content-Type", c.ct)
			}
			var v target
			err := Decode(r, &v)
			if c.code == "" {
				if err != nil {
					t.Fatalf("Decode = %v", err)
				}
				if v.Name != "x" {
					t.Fatalf("decoded %+v", v)
				}
				return
			}
			var ce *chorus.Error
			if !errors.As(err, &ce) || ce.Code != c.code || !strings.Contains(ce.Message, c.msg) {
				t.Fatalf("Decode = %v, want %s containing %q", err, c.code, c.msg)
			}
			noInternals(t, ce.Message)
		})
	}
	t.Run("read error", func(t *testing.T) {
		r := httptest.NewRequest("POST", "/", io.NopCloser(errReader{}))
		var v target
		if err := Decode(r, &v); chorus.ErrorCode(err) != chorus.EINVALID {
			t.Fatalf("Decode on a failing body = %v", err)
		}
	})
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

func TestPanicsAndInternalErrors(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{}, true)

	w := b.do(httptest.NewRequest("GET", "/api/v1/boom", nil))
	code, msg := errorBody(t, w.Body.Bytes())
	if w.Code != 500 || code != "internal" || msg == "" {
		t.Fatalf("panic = %d %s", w.Code, w.Body)
	}
	noInternals(t, w.Body.String())
	if w.Header().Get("Content-Type") != "application/json; charset=utf-8" {
		t.Errorf("panic answer content type %q", w.Header().Get("Content-Type"))
	}
	logs := b.logs.String()
	if !strings.Contains(logs, "panic serving request") || !strings.Contains(logs, "kaboom") || !strings.Contains(logs, "goroutine") {
		t.Errorf("panic and stack not logged: %s", logs)
	}

	w = b.do(httptest.NewRequest("GET", "/api/v1/internal", nil))
	if code, _ := errorBody(t, w.Body.Bytes()); w.Code != 500 || code != "internal" {
		t.Fatalf("internal error = %d %s", w.Code, w.Body)
	}
	noInternals(t, w.Body.String())
	reqID := w.Header().Get("X-Request-ID")
	found := false
	for _, line := range strings.Split(b.logs.String(), "\n") {
		if strings.Contains(line, `"msg":"request failed"`) && strings.Contains(line, "10.0.0.5") && strings.Contains(line, reqID) {
			found = true
		}
	}
	if !found {
		t.Errorf("internal error not logged with its request id %s: %s", reqID, b.logs.String())
	}

	w = b.do(httptest.NewRequest("GET", "/api/v1/limited", nil))
	if code, _ := errorBody(t, w.Body.Bytes()); w.Code != 429 || code != "rate_limited" || w.Header().Get("Retry-After") != "7" {
		t.Fatalf("rate limited = %d %v %s", w.Code, w.Header(), w.Body)
	}

	// http.ErrAbortHandler passes through: the client sees the connection cut.
	b.srv.Router().Get("/abort", func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) })
	res, err := http.Get(b.base + "/abort")
	if err == nil {
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		t.Fatalf("aborted handler answered %d %s", res.StatusCode, body)
	}
	// The server still serves.
	if res, err := http.Get(b.base + "/healthz"); err != nil || res.StatusCode != 200 {
		t.Fatalf("after abort: %v", err)
	} else {
		res.Body.Close()
	}
}

// TestStartingUntilOpen: between Start and Open the server answers health
// and metrics, readiness 503 "starting" (with its checks), and 503
// unavailable with Retry-After on every other path, routes added or not; the
// full router serves once open.
func TestStartingUntilOpen(t *testing.T) {
	t.Parallel()
	s := New(Config{Addr: "127.0.0.1:0"}, slog.New(slog.DiscardHandler))
	s.API().Get("/things", func(w http.ResponseWriter, r *http.Request) { WriteJSON(w, 200, map[string]int{"n": 1}) })
	s.AddCheck("database", func(context.Context) error { return nil })
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	get := func(path string) (int, string, http.Header) {
		t.Helper()
		res, err := http.Get("http://" + s.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b), res.Header
	}
	if code, _, _ := get("/healthz"); code != 200 {
		t.Errorf("healthz while starting = %d", code)
	}
	if code, body, _ := get("/readyz"); code != 503 || !strings.Contains(body, `"starting"`) || !strings.Contains(body, `"database":"ok"`) {
		t.Errorf("readyz while starting = %d %s", code, body)
	}
	if code, _, _ := get("/metrics"); code != 200 {
		t.Errorf("metrics while starting = %d", code)
	}
	for _, p := range []string{"/api/v1/things", "/api/v1/nothing", "/ws/v1/agent", "/"} {
		if code, body, h := get(p); code != 503 || !strings.Contains(body, `"unavailable"`) || h.Get("Retry-After") != "1" {
			t.Errorf("%s while starting = %d %s (Retry-After %q)", p, code, body, h.Get("Retry-After"))
		}
	}
	s.Open()
	if code, body, _ := get("/api/v1/things"); code != 200 || !strings.Contains(body, `"n":1`) {
		t.Errorf("after Open: %d %s", code, body)
	}
	if code, body, _ := get("/readyz"); code != 200 || !strings.Contains(body, `"ready"`) {
		t.Errorf("readyz after Open = %d %s", code, body)
	}
}

func TestStatusOf(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		err  error
		want int
	}{
		{chorus.Errorf(chorus.EINVALID, "x"), 400},
		{chorus.Errorf(chorus.EUNAUTHORIZED, "x"), 401},
		{chorus.Errorf(chorus.EFORBIDDEN, "x"), 403},
		{chorus.Errorf(chorus.ENOTFOUND, "x"), 404},
		{chorus.Errorf(chorus.ECONFLICT, "x"), 409},
		{chorus.Errorf(chorus.ETOOLARGE, "x"), 413},
		{chorus.Errorf(chorus.ERATELIMITED, "x"), 429},
		{chorus.Errorf(chorus.EUNAVAILABLE, "x"), 503},
		{chorus.Errorf(chorus.EINTERNAL, "x"), 500},
		{chorus.Errorf("made_up", "x"), 500},
		{errors.New("plain"), 500},
		{errors.Join(errors.New("ctx"), chorus.Errorf(chorus.ENOTFOUND, "x")), 404},
	} {
		if got := StatusOf(c.err); got != c.want {
			t.Errorf("StatusOf(%v) = %d, want %d", c.err, got, c.want)
		}
		w := httptest.NewRecorder()
		WriteError(w, httptest.NewRequest("GET", "/", nil), c.err)
		if w.Code != c.want {
			t.Errorf("WriteError(%v) status %d, want %d", c.err, w.Code, c.want)
		}
		// RFC 6750: a 401 names the scheme it wants.
		if got := w.Header().Get("WWW-Authenticate"); (c.want == 401) != (got == `Bearer realm="chorus"`) {
			t.Errorf("WriteError(%v): WWW-Authenticate %q", c.err, got)
		}
	}
}

func TestRequestID(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{}, false)
	hex16 := regexp.MustCompile(`^[0-9a-f]{16}$`)
	get := func(id string) string {
		r := httptest.NewRequest("GET", "/api/v1/things/1", nil)
		if id != "" {
			r.Header.Set("X-Request-ID", id)
		}
		return b.do(r).Header().Get("X-Request-ID")
	}
	if got := get("abc-123.DEF"); got != "abc-123.DEF" {
		t.Errorf("valid id not echoed: %q", got)
	}
	first, second := get(""), get("")
	if !hex16.MatchString(first) || first == second {
		t.Errorf("generated ids %q, %q", first, second)
	}
	for _, bad := range []string{"bad id", "<script>", strings.Repeat("a", 65), "x\r\nSet-Cookie: y", "é"} {
		if got := get(bad); !hex16.MatchString(got) {
			t.Errorf("invalid id %q answered with %q", bad, got)
		}
	}
	if !strings.Contains(b.logs.String(), `"request_id":"abc-123.DEF"`) {
		t.Error("access log misses the request id")
	}
	if LoggerFrom(context.Background()) != nil {
		t.Error("LoggerFrom of a bare context is not nil")
	}
}

func TestAccessLog(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{}, false)
	secret := "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0.c2ln"
	b.do(httptest.NewRequest("GET", "/api/v1/things/42?access_token="+secret+"&tenant_id=t1&email=vera@example.com", nil))
	b.do(httptest.NewRequest("GET", "/healthz?x=1", nil))
	b.do(httptest.NewRequest("GET", "/readyz", nil))
	b.do(httptest.NewRequest("GET", "/metrics", nil))
	logs := b.logs.String()
	for _, leak := range []string{secret, "access_token", "vera@example.com", "?", "/things/42"} {
		if strings.Contains(logs, leak) {
			t.Errorf("access log contains %q: %s", leak, logs)
		}
	}
	var line map[string]any
	n := 0
	for _, l := range strings.Split(strings.TrimSpace(logs), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "http request" {
			line = m
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d access log lines, want 1 (health, readiness and metrics are not logged): %s", n, logs)
	}
	if line["route"] != "/api/v1/things/{id}" || line["status"] != float64(200) || line["method"] != "GET" || line["tenant_id"] != "tenant-7" {
		t.Errorf("access log line = %v", line)
	}
	if _, ok := line["duration_ms"]; !ok {
		t.Error("access log misses duration_ms")
	}
}

func TestRoutingFallbackAndErrors(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{}, false)
	w := b.do(httptest.NewRequest("GET", "/some/page", nil))
	if code, _ := errorBody(t, w.Body.Bytes()); w.Code != 404 || code != "not_found" {
		t.Fatalf("unknown path without fallback = %d %s", w.Code, w.Body)
	}
	b.srv.SetFallback(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "<html>app</html>")
	}))
	if w := b.do(httptest.NewRequest("GET", "/some/page", nil)); w.Code != 200 || w.Body.String() != "<html>app</html>" {
		t.Errorf("fallback = %d %s", w.Code, w.Body)
	}
	for _, p := range []string{"/api/v1/nope", "/api/other", "/ws/v1/nope"} {
		w := b.do(httptest.NewRequest("GET", p, nil))
		if code, _ := errorBody(t, w.Body.Bytes()); w.Code != 404 || code != "not_found" {
			t.Errorf("%s = %d %s (API paths never fall back to the app)", p, w.Code, w.Body)
		}
	}
	w = b.do(httptest.NewRequest("DELETE", "/api/v1/things/1", nil))
	if code, _ := errorBody(t, w.Body.Bytes()); w.Code != 405 || code != "method_not_allowed" {
		t.Errorf("wrong method = %d %s", w.Code, w.Body)
	}
}

// TestHijackAndFlush: the status-recording writer keeps Hijack (WebSocket
// upgrades) and Flush (streaming) working through the middleware.
func TestHijackAndFlush(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{}, false)
	b.srv.Router().Get("/hijack", func(w http.ResponseWriter, r *http.Request) {
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			WriteError(w, r, err)
			return
		}
		defer conn.Close()
		_, _ = rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\nhello")
		_ = rw.Flush()
	})
	b.srv.Router().Get("/stream", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "part1")
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("flush: %v", err)
		}
		_, _ = io.WriteString(w, "part2")
	})
	if err := b.srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.srv.Stop(context.Background()) })

	c, err := net.Dial("tcp", b.srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.WriteString(c, "GET /hijack HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n")
	got, _ := io.ReadAll(c)
	if !strings.HasPrefix(string(got), "HTTP/1.1 101") || !strings.HasSuffix(string(got), "hello") {
		t.Fatalf("hijacked answer %q", got)
	}
	res, err := http.Get("http://" + b.srv.Addr() + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(body) != "part1part2" {
		t.Fatalf("stream = %q", body)
	}
	// Upgrades are not in the latency histogram (they last as long as the socket).
	w := b.do(httptest.NewRequest("GET", "/metrics", nil))
	if strings.Contains(w.Body.String(), `route="/hijack"`) {
		t.Error("hijacked request recorded in the latency histogram")
	}
	// A writer without Hijack answers an error rather than panicking.
	sw := &statusWriter{ResponseWriter: httptest.NewRecorder()}
	if _, _, err := sw.Hijack(); err == nil {
		t.Error("Hijack on a recorder succeeded")
	}
	sw.Flush() // recorder flushes; must not panic
	if sw.Unwrap() == nil {
		t.Error("Unwrap = nil")
	}
}
