package app

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestDatabaseDownAtStart: with PostgreSQL unreachable, the process stays
// up, /healthz answers 200, /readyz 503 naming the database, and the log says
// why it waits; stopping it ends the retries with a clear error.
func TestDatabaseDownAtStart(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	dead := freeAddr(t) // nothing listens there
	cfg, err := LoadConfig([]string{"--http-addr=" + addr, "--data-dir=" + t.TempDir(),
		"--database-url=postgres://postgres@" + dead + "/test?sslmode=disable&connect_timeout=1"}, noEnv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	a, err := New(cfg, NewLogger(logs, cfg), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()

	get := func(path string) (int, string) {
		res, err := http.Get("http://" + addr + path)
		if err != nil {
			return 0, ""
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		hs, _ := get("/healthz")
		rs, body := get("/readyz")
		if hs == 200 && rs == 503 && strings.Contains(logs.String(), "database unavailable, retrying") {
			var r struct{ Checks map[string]string }
			if err := json.Unmarshal([]byte(body), &r); err != nil || r.Checks["database"] != "unavailable" {
				t.Fatalf("readyz body %s", body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("healthz %d, readyz %d %s; log:\n%s", hs, rs, body, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("process ended while the database was down: %v", err)
	default:
	}
	cancel()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "database") {
			t.Fatalf("stop during retries: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("did not stop while retrying")
	}
}
