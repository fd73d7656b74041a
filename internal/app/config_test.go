package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/enkisys/chorus/internal/chorustest"
)

func noEnv(string) string { return "" }

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestConfigDefaultsFlagsAndEnv(t *testing.T) {
	t.Parallel()
	cfg, err := LoadConfig(nil, noEnv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.Roles, []string{All}) || cfg.HTTPAddr != ":8080" || cfg.DataDir != "./chorus-data" || !cfg.Embedded() || cfg.Gateway.SendBuffer != 256 {
		t.Errorf("defaults = %+v", cfg)
	}
	if cfg.URL() != "http://localhost:8080" {
		t.Errorf("URL = %s", cfg.URL())
	}
	cfg, err = LoadConfig([]string{"--http-addr=127.0.0.1:9000", "--gateway.ping-interval=5s"},
		envOf(map[string]string{"CHORUS_HTTP_ADDR": ":1", "CHORUS_LOG_LEVEL": "debug", "CHORUS_GATEWAY_SEND_BUFFER": "64"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTPAddr != "127.0.0.1:9000" || cfg.LogLevel != "debug" || cfg.Gateway.SendBuffer != 64 || cfg.Gateway.PingInterval != 5*time.Second {
		t.Errorf("flags over env over defaults: %+v", cfg)
	}
	if EnvName("gateway.send-buffer") != "CHORUS_GATEWAY_SEND_BUFFER" {
		t.Error(EnvName("gateway.send-buffer"))
	}
}

func TestConfigErrorsAllAtOnce(t *testing.T) {
	t.Parallel()
	_, err := LoadConfig([]string{"--roles=bogus,chat", "--http-addr=nope", "--log-level=loud", "--gateway.ping-interval=soon",
		"--database-url=mysql://x", "--cors-origins=not-an-origin", "--tls-cert=x"}, envOf(map[string]string{"CHORUS_DEMO": "maybe"}), io.Discard)
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{`unknown role "bogus" (valid roles: all, gateway, chat, presence, summary, notify, web)`,
		"http-addr", "log-level", "gateway.ping-interval", "database-url", "cors-origins", "tls-cert and tls-key", "demo", "CHORUS_DEMO"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestConfigSplitRolesNeedServices(t *testing.T) {
	t.Parallel()
	_, err := LoadConfig([]string{"--roles=gateway"}, noEnv, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "PostgreSQL (--database-url / CHORUS_DATABASE_URL) and Redis (--redis-url / CHORUS_REDIS_URL)") {
		t.Fatalf("err = %v", err)
	}
	_, err = LoadConfig([]string{"--roles=gateway,presence", "--database-url=postgres://x@y/z"}, noEnv, io.Discard)
	if err == nil || strings.Contains(err.Error(), "PostgreSQL") || !strings.Contains(err.Error(), "Redis") {
		t.Fatalf("err = %v", err)
	}
	if _, err := LoadConfig([]string{"--roles=chat", "--database-url=postgres://x@y/z", "--redis-url=redis://r:6379"}, noEnv, io.Discard); err != nil {
		t.Fatal(err)
	}
}

func TestHelpDocumentsEverySetting(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	_, err := LoadConfig([]string{"--help"}, noEnv, &out)
	if !errors.Is(err, flag.ErrHelp) || ExitCode(err) != 0 {
		t.Fatalf("err = %v", err)
	}
	var cfg Config
	for _, s := range settings(&cfg) {
		if !strings.Contains(out.String(), "--"+s.name+"  ("+EnvName(s.name)) {
			t.Errorf("help lacks %s", s.name)
		}
	}
	if strings.Contains(out.String(), "test-secret") {
		t.Error("help shows a secret")
	}
}

// TestEveryRoleCombinationResolves: every subset of roles resolves to a
// start order without cycles, with each module after its dependencies.
func TestEveryRoleCombinationResolves(t *testing.T) {
	t.Parallel()
	cfg, err := LoadConfig(nil, noEnv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, chorustest.Logger(t), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for mask := 1; mask < 1<<len(Roles); mask++ {
		var roles []string
		for i, r := range Roles {
			if mask&(1<<i) != 0 {
				roles = append(roles, r)
			}
		}
		order, err := a.modules.Resolve(roles...)
		if err != nil {
			t.Fatalf("%v: %v", roles, err)
		}
		pos := map[string]int{}
		for i, m := range order {
			pos[m] = i
		}
		for m := range pos {
			for _, d := range deps[m] {
				if pos[d] > pos[m] {
					t.Fatalf("%v: %s starts before its dependency %s", roles, m, d)
				}
			}
		}
		for _, r := range roles {
			if _, ok := pos[r]; !ok {
				t.Fatalf("%v: %s missing from %v", roles, r, order)
			}
		}
	}
	if err := a.modules.CheckTargets("store"); err == nil {
		t.Error("an infrastructure module was accepted as a role")
	}
}

func TestMainCommands(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var out, errb bytes.Buffer
	ctx := context.Background()
	if err := Main(ctx, []string{"version"}, noEnv, &out, &errb); err != nil || !strings.Contains(out.String(), "chorus") {
		t.Fatalf("version: %v %q", err, out.String())
	}
	if err := Main(ctx, []string{"frobnicate"}, noEnv, &out, &errb); err == nil || !strings.Contains(err.Error(), "unknown command") {
		t.Fatalf("unknown command: %v", err)
	}
	if err := Main(ctx, []string{"--roles=bogus"}, noEnv, &out, &errb); err == nil || !strings.Contains(err.Error(), "valid roles") || ExitCode(err) != 1 {
		t.Fatalf("bogus role: %v", err)
	}
	out.Reset()
	if err := Main(ctx, []string{"help"}, noEnv, &out, &errb); ExitCode(err) != 0 || !strings.Contains(out.String(), "--database-url") {
		t.Fatalf("help: %v", err)
	}

	// tenant create → login works with the printed password.
	out.Reset()
	if err := Main(ctx, []string{"tenant", "create", "Acme Corp", "--admin-email", "boss@acme.example", "--data-dir", dir}, noEnv, &out, &errb); err != nil {
		t.Fatalf("tenant create: %v\n%s", err, errb.String())
	}
	if !strings.Contains(out.String(), "tenant    acme-corp") {
		t.Fatalf("tenant create printed %q", out.String())
	}
	var password string
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(line, "password") {
			password = strings.Fields(line)[1]
		}
	}
	for _, bad := range [][]string{{"tenant"}, {"tenant", "create", "X"}, {"tenant", "create", "X", "--admin-email", "nope", "--data-dir", dir}} {
		if err := Main(ctx, bad, noEnv, &out, &errb); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}

	// migrate status on the same data dir.
	out.Reset()
	if err := Main(ctx, []string{"migrate", "status", "--data-dir", dir}, noEnv, &out, &errb); err != nil || !strings.Contains(out.String(), "applied") {
		t.Fatalf("migrate status: %v %q", err, out.String())
	}
	if err := Main(ctx, []string{"migrate", "sideways"}, noEnv, &out, &errb); err == nil {
		t.Error("migrate sideways accepted")
	}

	// token with the data dir's secret; verify by serving on that dir.
	out.Reset()
	if err := Main(ctx, []string{"token", "--tenant", "acme-corp", "--sub", "u1", "--roles", "agent", "--data-dir", dir}, noEnv, &out, &errb); err != nil {
		t.Fatalf("token: %v", err)
	}
	tok := strings.TrimSpace(out.String())
	if err := Main(ctx, []string{"token", "--tenant", "acme-corp", "--sub", "u1", "--ttl", "7h", "--data-dir", dir}, noEnv, &out, &errb); err == nil {
		t.Error("a 7h token was issued")
	}
	if err := Main(ctx, []string{"token", "--data-dir", dir}, noEnv, &out, &errb); err == nil {
		t.Error("token without tenant accepted")
	}
	e := startEnvDir(t, dir)
	e.tenant = "acme-corp"
	var me Me
	e.must(e.call("GET", "/api/v1/me", tok, nil), 200).json(t, &me)
	if me.ID != "u1" {
		t.Errorf("me = %+v", me)
	}
	e.must(e.callTenant("POST", "/api/v1/auth/login", "", "-", map[string]any{"email": "boss@acme.example", "password": password, "tenant_id": "acme-corp"}), 200)
}

func startEnvDir(t *testing.T, dir string) *env {
	t.Helper()
	cfg, err := LoadConfig([]string{"--http-addr=127.0.0.1:0", "--data-dir=" + dir, "--demo=false"}, noEnv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, chorustest.Logger(t), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	select {
	case <-a.Ready():
	case err := <-done:
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); <-done })
	return &env{t: t, app: a, base: "http://" + a.Addr(), ws: "ws://" + a.Addr(), secret: a.jwtSecret, logs: &syncBuffer{}}
}

// TestFirstRunBootstrap: a fresh data dir gets a demo tenant, an admin who
// can log in, and a widget channel whose demo page works; a second run
// reuses them and does not print the password again.
func TestFirstRunBootstrap(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "fresh", "data")
	run := func() (string, func()) {
		cfg, err := LoadConfig([]string{"--http-addr=127.0.0.1:0", "--data-dir=" + dir}, noEnv, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		var out syncBuffer
		a, err := New(cfg, chorustest.Logger(t), &out)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx) }()
		<-a.Ready()
		e := &env{t: t, app: a, base: "http://" + a.Addr(), logs: &syncBuffer{}}
		stop := func() { cancel(); <-done }
		banner := out.String()
		if !strings.Contains(banner, "/demo") || !strings.Contains(banner, "admin@demo.local") {
			t.Fatalf("banner = %q", banner)
		}
		// The demo page carries the widget key; the widget key opens a session.
		page := e.callTenant("GET", "/demo", "", "-", nil, "Accept", "text/html")
		if page.status != 200 || !strings.Contains(string(page.body), a.demoWidgetKey) || a.demoWidgetKey == "" {
			t.Fatalf("demo page: %d", page.status)
		}
		e.must(e.callTenant("POST", "/api/v1/widget/sessions", "", "-", map[string]any{"widget_key": a.demoWidgetKey}, "Origin", e.base), 201)
		return banner, stop
	}
	banner, stop := run()
	var password string
	for _, line := range strings.Split(banner, "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[0] == "Admin" && f[1] == "password" {
			password = f[2]
		}
	}
	if password == "" {
		t.Fatalf("no password in %q", banner)
	}
	st, err := os.Stat(filepath.Join(dir, "jwt-secret"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("secret file: %v %v", st, err)
	}
	stop()
	banner2, stop2 := run()
	defer stop2()
	if strings.Contains(banner2, password) || !strings.Contains(banner2, "printed on the first run only") {
		t.Errorf("second banner = %q", banner2)
	}
}

// TestConfigFromSSM: settings given as ssm:///path are resolved from a
// server speaking the SSM API, and a bad value from SSM never shows in the
// error.
func TestConfigFromSSM(t *testing.T) {
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	params := map[string]string{
		"/chorus/jwt":   "a-jwt-secret-from-ssm-that-is-long-enough",
		"/chorus/level": "debug",
		"/chorus/bad":   "not-a-duration-SECRETVALUE",
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Names []string }
		_ = json.NewDecoder(r.Body).Decode(&req)
		type param struct{ Name, Type, Value string }
		out := struct {
			Parameters        []param
			InvalidParameters []string
		}{InvalidParameters: []string{}}
		for _, n := range req.Names {
			if v, ok := params[n]; ok {
				out.Parameters = append(out.Parameters, param{n, "SecureString", v})
			} else {
				out.InvalidParameters = append(out.InvalidParameters, n)
			}
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_ = json.NewEncoder(w).Encode(out)
	}))
	defer srv.Close()
	env := map[string]string{"CHORUS_SSM_ENDPOINT": srv.URL, "CHORUS_JWT_SECRET": "ssm:///chorus/jwt"}
	cfg, err := LoadConfig([]string{"--log-level=ssm:///chorus/level"}, envOf(env), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.JWTSecret != params["/chorus/jwt"] || cfg.LogLevel != "debug" {
		t.Fatalf("resolved: %q %q", cfg.JWTSecret, cfg.LogLevel)
	}
	_, err = LoadConfig([]string{"--shutdown-timeout=ssm:///chorus/bad"}, envOf(env), io.Discard)
	if err == nil || strings.Contains(err.Error(), "SECRETVALUE") || !strings.Contains(err.Error(), "shutdown-timeout") {
		t.Fatalf("bad value from SSM: %v", err)
	}
	_, err = LoadConfig([]string{"--jwt-secret=ssm:///chorus/missing"}, envOf(env), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "jwt-secret") {
		t.Fatalf("missing parameter: %v", err)
	}
}
