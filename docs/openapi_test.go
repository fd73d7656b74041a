package docs_test

import (
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"go.yaml.in/yaml/v3"

	"github.com/enkisys/chorus/internal/chat"
)

// document is the part of an OpenAPI document the checks below read.
type document struct {
	OpenAPI string                          `yaml:"openapi"`
	Info    map[string]any                  `yaml:"info"`
	Paths   map[string]map[string]yaml.Node `yaml:"paths"`
}

// operation is the part of an operation the checks read. The other keys of
// a path item (parameters, summary, ...) are not operations and are skipped.
type operation struct {
	OperationID string               `yaml:"operationId"`
	Responses   map[string]yaml.Node `yaml:"responses"`
}

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// noClientError lists the operations that cannot fail with a 4xx: static or
// health answers that take no input and no credentials.
var noClientError = map[string]bool{
	"GET /api/v1/openapi.yaml": true,
	"GET /healthz":             true,
	"GET /readyz":              true,
}

func load(t *testing.T) document {
	t.Helper()
	raw, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var d document
	if err := yaml.Unmarshal(raw, &d); err != nil {
		t.Fatalf("openapi.yaml does not parse: %v", err)
	}
	return d
}

// routes builds the REST route table exactly as the server mounts it and
// returns "METHOD /path" for each route.
func routes(t *testing.T) []string {
	t.Helper()
	r := chi.NewRouter()
	r.Route("/api/v1", func(r chi.Router) {
		chat.NewModule(nil, func(h http.Handler) http.Handler { return h }).Routes(r)
		r.Get("/openapi.yaml", func(http.ResponseWriter, *http.Request) {})
	})
	var out []string
	err := chi.Walk(r, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		route = strings.ReplaceAll(route, "/*/", "/")
		if len(route) > 1 {
			route = strings.TrimSuffix(route, "/")
		}
		out = append(out, method+" "+route)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// operations returns the documented operations by "METHOD /path".
func operations(t *testing.T, d document) map[string]operation {
	t.Helper()
	ops := map[string]operation{}
	for path, item := range d.Paths {
		for key, node := range item {
			if !slices.Contains(httpMethods, key) {
				continue
			}
			var op operation
			if err := node.Decode(&op); err != nil {
				t.Fatalf("%s %s: %v", key, path, err)
			}
			ops[strings.ToUpper(key)+" "+path] = op
		}
	}
	return ops
}

func TestOpenAPIVersion(t *testing.T) {
	d := load(t)
	if !strings.HasPrefix(d.OpenAPI, "3.1.") {
		t.Fatalf("openapi: %q, want 3.1.x", d.OpenAPI)
	}
	if d.Info["title"] == nil || d.Info["version"] == nil {
		t.Fatal("info: title and version are required")
	}
	if len(d.Paths) == 0 {
		t.Fatal("paths: empty")
	}
}

func TestOpenAPIMatchesRoutes(t *testing.T) {
	d := load(t)
	ops := operations(t, d)
	rs := routes(t)
	if len(rs) < 10 {
		t.Fatalf("route table looks wrong: %v", rs)
	}
	var missing, extra []string
	for _, r := range rs {
		if _, ok := ops[r]; !ok {
			missing = append(missing, r)
		}
	}
	for op := range ops {
		_, path, _ := strings.Cut(op, " ")
		if strings.HasPrefix(path, "/api/v1/") && !slices.Contains(rs, op) {
			extra = append(extra, op)
		}
	}
	slices.Sort(extra)
	if len(missing) > 0 {
		t.Errorf("routes the document lacks:\n  %s", strings.Join(missing, "\n  "))
	}
	if len(extra) > 0 {
		t.Errorf("documented /api/v1 operations with no route:\n  %s", strings.Join(extra, "\n  "))
	}
}

func TestOpenAPIOperationsListClientErrors(t *testing.T) {
	d := load(t)
	var bad []string
	for name, op := range operations(t, d) {
		if len(op.Responses) == 0 {
			t.Errorf("%s: no responses", name)
			continue
		}
		if op.OperationID == "" {
			t.Errorf("%s: no operationId", name)
		}
		if noClientError[name] {
			continue
		}
		has4xx := false
		for code := range op.Responses {
			if strings.HasPrefix(code, "4") {
				has4xx = true
			}
		}
		if !has4xx {
			bad = append(bad, name)
		}
	}
	slices.Sort(bad)
	if len(bad) > 0 {
		t.Errorf("operations without a 4xx response:\n  %s", strings.Join(bad, "\n  "))
	}
}

func TestOpenAPIRefsResolve(t *testing.T) {
	raw, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var root any
	if err := yaml.Unmarshal(raw, &root); err != nil {
		t.Fatal(err)
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if ref, ok := x.(string); ok && k == "$ref" {
					if !resolves(root, ref) {
						t.Errorf("$ref %q does not resolve", ref)
					}
					continue
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(root)
}

func resolves(root any, ref string) bool {
	ptr, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return false
	}
	cur := root
	for _, part := range strings.Split(ptr, "/") {
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return false
		}
		if cur, ok = m[part]; !ok {
			return false
		}
	}
	return true
}
