package web

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
)

const browserAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

func do(t *testing.T, h http.Handler, method, target, accept string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, res *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func assetPath(t *testing.T, ext string) string {
	t.Helper()
	entries, err := fs.ReadDir(Dist, "dist/assets")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ext) {
			return "/assets/" + e.Name()
		}
	}
	t.Fatalf("no %s asset in dist", ext)
	return ""
}

func TestDistIsComplete(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"dist/index.html", "dist/widget.js", "dist/demo.html"} {
		b, err := fs.ReadFile(Dist, name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(b) == 0 {
			t.Fatalf("%s is empty", name)
		}
	}
	demo, _ := fs.ReadFile(Dist, "dist/demo.html")
	if !strings.Contains(string(demo), `data-widget-key="`+DemoWidgetKeyPlaceholder+`"`) {
		t.Fatal("demo.html lacks the widget key placeholder")
	}
	// index.html must reference hashed assets that exist.
	index, _ := fs.ReadFile(Dist, "dist/index.html")
	refs := regexp.MustCompile(`/assets/[^"]+`).FindAllString(string(index), -1)
	if len(refs) == 0 {
		t.Fatal("index.html references no assets")
	}
	for _, ref := range refs {
		if _, err := fs.Stat(Dist, "dist"+ref); err != nil {
			t.Errorf("index.html references missing %s", ref)
		}
	}
}

func TestWidget(t *testing.T) {
	t.Parallel()
	h := Handler(Config{})
	res := do(t, h, http.MethodGet, "/widget.js", "*/*")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d", res.StatusCode)
	}
	for k, want := range map[string]string{
		"Content-Type":                "text/javascript; charset=utf-8",
		"Cache-Control":               "public, max-age=300",
		"Access-Control-Allow-Origin": "*",
		"X-Content-Type-Options":      "nosniff",
	} {
		if got := res.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	b := body(t, res)
	want, _ := fs.ReadFile(Dist, "dist/widget.js")
	if b != string(want) {
		t.Fatal("body differs from dist/widget.js")
	}
	if !strings.Contains(b, "/api/v1/widget/sessions") {
		t.Fatal("widget.js does not look like the widget")
	}

	head := do(t, h, http.MethodHead, "/widget.js", "")
	if head.StatusCode != http.StatusOK || body(t, head) != "" {
		t.Fatalf("HEAD: status %d", head.StatusCode)
	}
}

func TestDemo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, key, want string
	}{
		{"plain", "wk_demo123", `data-widget-key="wk_demo123"`},
		{"escaped", `"><script>alert(1)</script>`, `data-widget-key="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"`},
		{"nil func", "", `data-widget-key=""`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := Config{}
			if tt.key != "" {
				key := tt.key
				cfg.DemoWidgetKey = func() string { return key }
			}
			for _, p := range []string{"/demo", "/demo/", "/demo.html"} {
				res := do(t, Handler(cfg), http.MethodGet, p, browserAccept)
				if res.StatusCode != http.StatusOK {
					t.Fatalf("%s: status %d", p, res.StatusCode)
				}
				b := body(t, res)
				if !strings.Contains(b, tt.want) {
					t.Fatalf("%s: body lacks %s", p, tt.want)
				}
				if strings.Contains(b, DemoWidgetKeyPlaceholder) || strings.Contains(b, "<script>alert") {
					t.Fatalf("%s: placeholder left or key not escaped", p)
				}
				if !strings.Contains(b, `src="/widget.js"`) {
					t.Fatalf("%s: demo does not load /widget.js", p)
				}
				checkHTMLHeaders(t, res, CSPDemo)
				if got := res.Header.Get("Cache-Control"); got != "no-store" {
					t.Errorf("Cache-Control = %q", got)
				}
			}
		})
	}
}

func checkHTMLHeaders(t *testing.T, res *http.Response, csp string) {
	t.Helper()
	hd := res.Header
	if got := hd.Get("Content-Type"); got != "text/html; charset=utf-8" {
		t.Errorf("Content-Type = %q", got)
	}
	if got := hd.Get("Content-Security-Policy"); got != csp {
		t.Errorf("CSP = %q", got)
	}
	for _, part := range []string{"script-src 'self'", "connect-src 'self' ws: wss:", "frame-ancestors 'none'"} {
		if !strings.Contains(hd.Get("Content-Security-Policy"), part) {
			t.Errorf("CSP lacks %q", part)
		}
	}
	if strings.Contains(hd.Get("Content-Security-Policy"), "script-src 'self' 'unsafe") {
		t.Error("CSP allows unsafe script")
	}
	if hd.Get("X-Content-Type-Options") != "nosniff" {
		t.Error("no nosniff")
	}
	if hd.Get("Referrer-Policy") == "" {
		t.Error("no Referrer-Policy")
	}
}

func TestAssets(t *testing.T) {
	t.Parallel()
	h := Handler(Config{})
	for ext, ctype := range map[string]string{".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"} {
		p := assetPath(t, ext)
		res := do(t, h, http.MethodGet, p, "*/*")
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d", p, res.StatusCode)
		}
		if got := res.Header.Get("Content-Type"); got != ctype {
			t.Errorf("%s: Content-Type %q", p, got)
		}
		if got := res.Header.Get("Cache-Control"); got != "public, max-age=31536000, immutable" {
			t.Errorf("%s: Cache-Control %q", p, got)
		}
		if body(t, res) == "" {
			t.Errorf("%s: empty", p)
		}
	}
	for _, p := range []string{"/assets/missing-abc.js", "/assets/../index.html", "/assets/", "/assets/%2e%2e/embed.go"} {
		res := do(t, h, http.MethodGet, p, browserAccept)
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404", p, res.StatusCode)
		}
	}
}

func TestSPAFallback(t *testing.T) {
	t.Parallel()
	h := Handler(Config{DemoWidgetKey: func() string { return "k" }})
	index, _ := fs.ReadFile(Dist, "dist/index.html")
	tests := []struct {
		name, method, path, accept string
		status                     int
		spa                        bool
	}{
		{"root", http.MethodGet, "/", browserAccept, 200, true},
		{"client route", http.MethodGet, "/conversations/abc", browserAccept, 200, true},
		{"login", http.MethodGet, "/login", "text/html", 200, true},
		{"index.html", http.MethodGet, "/index.html", browserAccept, 200, true},
		{"head", http.MethodHead, "/admin", browserAccept, 200, false},
		{"not html", http.MethodGet, "/conversations/abc", "application/json", 404, false},
		{"no accept", http.MethodGet, "/", "", 404, false},
		{"missing file", http.MethodGet, "/favicon.ico", browserAccept, 404, false},
		{"api path", http.MethodGet, "/api/v1/nope", browserAccept, 404, false},
		{"ws path", http.MethodGet, "/ws/v1/nope", browserAccept, 404, false},
		{"post", http.MethodPost, "/", browserAccept, 405, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := do(t, h, tt.method, tt.path, tt.accept)
			if res.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", res.StatusCode, tt.status)
			}
			if tt.status == 200 {
				checkHTMLHeaders(t, res, CSPApp)
			}
			if tt.spa && body(t, res) != string(index) {
				t.Fatal("body is not index.html")
			}
			if tt.status == 405 && res.Header.Get("Allow") != "GET, HEAD" {
				t.Fatal("405 without Allow")
			}
		})
	}
}

func TestMissingFiles(t *testing.T) {
	t.Parallel()
	// A dist without files (a broken build) answers 404, never panics.
	h := newHandler(Config{}, fstest.MapFS{})
	for _, p := range []string{"/widget.js", "/demo", "/", "/assets/x.js"} {
		res := do(t, h, http.MethodGet, p, browserAccept)
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("%s: status %d", p, res.StatusCode)
		}
	}
}
