package web

import (
	"bytes"
	"html"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// DemoWidgetKeyPlaceholder is replaced in demo.html by Config.DemoWidgetKey().
const DemoWidgetKeyPlaceholder = "__CHORUS_DEMO_WIDGET_KEY__"

// Content-Security-Policy values. The app never needs inline script; the demo
// page carries the widget, whose Shadow DOM uses a <style> element, and its
// own inline styles; it may be framed by nobody either.
const (
	CSPApp  = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self' ws: wss:; font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
	CSPDemo = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self' ws: wss:; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)

// Config configures Handler.
type Config struct {
	// DemoWidgetKey returns the widget key of the demo tenant's channel,
	// written into /demo. Nil or empty: the page is served with an empty key
	// (the widget then logs that it has none).
	DemoWidgetKey func() string
}

// Handler serves the front end from Dist:
//   - /widget.js: the visitor widget, short cache, CORS *;
//   - /demo: demo.html with the widget key filled in;
//   - /assets/…: hashed files, cached for a year, immutable;
//   - any other GET or HEAD that accepts text/html: the SPA's index.html
//     (client-side routes); everything else is 404.
func Handler(cfg Config) http.Handler {
	sub, err := fs.Sub(Dist, "dist")
	if err != nil {
		// fs.Sub fails only on an invalid path; "dist" is a constant.
		panic("web: sub dist: " + err.Error())
	}
	return newHandler(cfg, sub)
}

type handler struct {
	cfg     Config
	files   fs.FS
	index   []byte
	demo    []byte
	widget  []byte
	modTime time.Time
}

func newHandler(cfg Config, files fs.FS) *handler {
	h := &handler{cfg: cfg, files: files}
	h.index, _ = fs.ReadFile(files, "index.html")
	h.demo, _ = fs.ReadFile(files, "demo.html")
	h.widget, _ = fs.ReadFile(files, "widget.js")
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := r.URL.Path
	switch {
	case p == "/widget.js":
		h.serveWidget(w, r)
	case p == "/demo" || p == "/demo/" || p == "/demo.html":
		h.serveDemo(w, r)
	case strings.HasPrefix(p, "/assets/"):
		h.serveAsset(w, r)
	case strings.HasPrefix(p, "/api/") || strings.HasPrefix(p, "/ws/"):
		// API paths the API did not match are never the SPA.
		http.NotFound(w, r)
	case acceptsHTML(r) && path.Ext(p) == "":
		h.serveIndex(w, r)
	case p == "/index.html" && acceptsHTML(r):
		h.serveIndex(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (h *handler) serveWidget(w http.ResponseWriter, r *http.Request) {
	if h.widget == nil {
		http.NotFound(w, r)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/javascript; charset=utf-8")
	hd.Set("Cache-Control", "public, max-age=300")
	hd.Set("Access-Control-Allow-Origin", "*")
	hd.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, "widget.js", h.modTime, bytes.NewReader(h.widget))
}

func (h *handler) serveDemo(w http.ResponseWriter, r *http.Request) {
	if h.demo == nil {
		http.NotFound(w, r)
		return
	}
	key := ""
	if h.cfg.DemoWidgetKey != nil {
		key = h.cfg.DemoWidgetKey()
	}
	page := bytes.ReplaceAll(h.demo, []byte(DemoWidgetKeyPlaceholder), []byte(html.EscapeString(key)))
	htmlHeaders(w, CSPDemo)
	w.Header().Set("Cache-Control", "no-store")
	http.ServeContent(w, r, "demo.html", h.modTime, bytes.NewReader(page))
}

func (h *handler) serveIndex(w http.ResponseWriter, r *http.Request) {
	if h.index == nil {
		http.NotFound(w, r)
		return
	}
	htmlHeaders(w, CSPApp)
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, "index.html", h.modTime, bytes.NewReader(h.index))
}

func (h *handler) serveAsset(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(path.Clean(r.URL.Path), "/")
	if !strings.HasPrefix(name, "assets/") || !fs.ValidPath(name) {
		http.NotFound(w, r)
		return
	}
	data, err := fs.ReadFile(h.files, name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	hd := w.Header()
	hd.Set("Cache-Control", "public, max-age=31536000, immutable")
	hd.Set("X-Content-Type-Options", "nosniff")
	// ServeContent sets Content-Type from the extension (.js, .css, …).
	http.ServeContent(w, r, name, h.modTime, bytes.NewReader(data))
}

func htmlHeaders(w http.ResponseWriter, csp string) {
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Content-Security-Policy", csp)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "strict-origin-when-cross-origin")
	hd.Set("X-Frame-Options", "DENY")
}

// acceptsHTML reports whether the request is a page load: an Accept header
// naming text/html or XHTML, as browsers send on navigation. A bare */* (curl,
// fetch) is not enough, so a mistyped asset or API path stays a 404.
func acceptsHTML(r *http.Request) bool {
	accept := r.Header.Get("Accept")
	return strings.Contains(accept, "text/html") || strings.Contains(accept, "application/xhtml+xml")
}
