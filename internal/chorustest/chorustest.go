// Package chorustest gives tests real infrastructure: a fresh PostgreSQL
// database per test, a Redis URL with a unique key prefix per test, and quiet
// loggers. Without CHORUS_TEST_DATABASE_URL / CHORUS_TEST_REDIS_URL a test
// skips, so `go test ./...` passes on a bare machine; the README's test command
// sets them and CHORUS_TEST_REQUIRE_SERVICES=1, which turns any such skip into
// a failure.
package chorustest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// Env names.
const (
	EnvDatabaseURL     = "CHORUS_TEST_DATABASE_URL"
	EnvRedisURL        = "CHORUS_TEST_REDIS_URL"
	EnvRequireServices = "CHORUS_TEST_REQUIRE_SERVICES"
)

// skipOrFail skips the test, or fails it when services are required.
func skipOrFail(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv(EnvRequireServices) == "1" {
		t.Fatal(msg + " (" + EnvRequireServices + "=1)")
	}
	t.Skip(msg)
}

// RandomSuffix returns n random hex bytes.
func RandomSuffix(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// PostgresURL creates a fresh, empty database for the test on the server of
// CHORUS_TEST_DATABASE_URL and returns its URL; it is dropped when the test
// ends.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvDatabaseURL)
	if base == "" {
		skipOrFail(t, "set "+EnvDatabaseURL+" to run")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		skipOrFail(t, "postgres unreachable: "+err.Error())
	}
	name := "chorus_t_" + RandomSuffix(6)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close(ctx)
		t.Fatalf("create test database: %v", err)
	}
	admin.Close(ctx)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Logf("drop test database %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("drop test database %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse %s: %v", EnvDatabaseURL, err)
	}
	u.Path = "/" + name
	return u.String()
}

// RedisURL returns the test Redis URL after checking it answers.
func RedisURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(EnvRedisURL)
	if u == "" {
		skipOrFail(t, "set "+EnvRedisURL+" to run")
	}
	opt, err := redis.ParseURL(u)
	if err != nil {
		t.Fatalf("parse %s: %v", EnvRedisURL, err)
	}
	c := redis.NewClient(opt)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		skipOrFail(t, "redis unreachable: "+err.Error())
	}
	return u
}

// Redis returns a client of the test Redis and a unique key prefix for the
// test; keys under the prefix are deleted when the test ends.
func Redis(t testing.TB) (*redis.Client, string) {
	t.Helper()
	opt, err := redis.ParseURL(RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	prefix := Prefix(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
		_ = c.Close()
	})
	return c, prefix
}

// Prefix returns a key/topic prefix unique to this test run.
func Prefix(t testing.TB) string {
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	if len(name) > 40 {
		name = name[:40]
	}
	return "chorustest:" + name + ":" + RandomSuffix(4) + ":"
}

// Logger returns a logger that writes to the test log only when -v is set.
func Logger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
