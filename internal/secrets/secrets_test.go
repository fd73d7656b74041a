package secrets

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// awsEnv isolates the SDK's default chain from the machine: static test
// credentials, region us-east-1, no shared files, no instance metadata, and
// CHORUS_SSM_ENDPOINT pointing at endpoint (when not empty).
func awsEnv(t *testing.T, endpoint string) {
	t.Helper()
	none := filepath.Join(t.TempDir(), "none")
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID":                      "test",
		"AWS_SECRET_ACCESS_KEY":                  "test",
		"AWS_SESSION_TOKEN":                      "",
		"AWS_REGION":                             "us-east-1",
		"AWS_DEFAULT_REGION":                     "",
		"AWS_PROFILE":                            "",
		"AWS_CONFIG_FILE":                        none,
		"AWS_SHARED_CREDENTIALS_FILE":            none,
		"AWS_EC2_METADATA_DISABLED":              "true",
		"AWS_ENDPOINT_URL":                       "",
		"AWS_CA_BUNDLE":                          "",
		"AWS_ENDPOINT_URL_SSM":                   "",
		"AWS_WEB_IDENTITY_TOKEN_FILE":            "",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI":     "",
		EndpointEnv:                              endpoint,
	} {
		t.Setenv(k, v)
	}
}

// assertNoSecret fails when err's message contains any of the values (or the
// fake ciphertext).
func assertNoSecret(t *testing.T, err error, values ...string) {
	t.Helper()
	if err == nil {
		return
	}
	msg := err.Error()
	for _, v := range append(values, fakeCiphertext) {
		if v != "" && strings.Contains(msg, v) {
			t.Errorf("error leaks a secret value %q: %s", v, msg)
		}
	}
}

func ptr(s string) *string { return &s }

func TestResolveSeveralSettingsInOneCall(t *testing.T) {
	f := newFakeSSM(t, map[string]string{
		"/chorus/prod/jwt-secret":   "jwt-s3cret-0123456789abcdef0123456789",
		"/chorus/prod/database-url": "postgres://chorus:pw@db:5432/chorus",
		"plain-redis":               "redis://:pw@redis:6379/0",
		"/chorus/prod/versioned:3":  "third-version",
	})
	awsEnv(t, f.URL)
	var logs bytes.Buffer
	refs := map[string]*string{
		"jwt-secret":   ptr("ssm:///chorus/prod/jwt-secret"),
		"database-url": ptr("SSM:///chorus/prod/database-url"), // scheme is case-insensitive
		"redis-url":    ptr("ssm://plain-redis"),
		"jwks-url":     ptr("ssm:///chorus/prod/jwt-secret"), // same parameter, two settings
		"demo-key":     ptr("ssm:///chorus/prod/versioned:3"),
		"log-level":    ptr("debug"),
		"public-url":   ptr(""),
	}
	err := Resolve(context.Background(), refs, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"jwt-secret":   "jwt-s3cret-0123456789abcdef0123456789",
		"database-url": "postgres://chorus:pw@db:5432/chorus",
		"redis-url":    "redis://:pw@redis:6379/0",
		"jwks-url":     "jwt-s3cret-0123456789abcdef0123456789",
		"demo-key":     "third-version",
		"log-level":    "debug",
		"public-url":   "",
	}
	for k, v := range want {
		if *refs[k] != v {
			t.Errorf("%s = %q, want %q", k, *refs[k], v)
		}
	}
	calls := f.Calls()
	if len(calls) != 1 || len(calls[0]) != 4 {
		t.Fatalf("calls = %v, want one call with the 4 distinct names", calls)
	}
	line := logs.String()
	if !strings.Contains(line, "resolved settings from ssm") || !strings.Contains(line, "jwt-secret") || !strings.Contains(line, "/chorus/prod/database-url") {
		t.Errorf("log line lacks settings or parameters: %s", line)
	}
	for _, v := range want {
		if v != "" && v != "debug" && strings.Contains(line, v) {
			t.Errorf("log leaks %q: %s", v, line)
		}
	}
}

func TestResolveBatchesOfTen(t *testing.T) {
	params := map[string]string{}
	refs := map[string]*string{}
	for i := range 23 {
		name := fmt.Sprintf("/chorus/p%02d", i)
		params[name] = fmt.Sprintf("value-%02d", i)
		refs[fmt.Sprintf("setting-%02d", i)] = ptr("ssm://" + name)
	}
	f := newFakeSSM(t, params)
	awsEnv(t, f.URL)
	if err := Resolve(context.Background(), refs, Options{}); err != nil {
		t.Fatal(err)
	}
	for i := range 23 {
		if got, want := *refs[fmt.Sprintf("setting-%02d", i)], fmt.Sprintf("value-%02d", i); got != want {
			t.Errorf("setting-%02d = %q, want %q", i, got, want)
		}
	}
	var sizes []int
	seen := map[string]int{}
	for _, c := range f.Calls() {
		sizes = append(sizes, len(c))
		for _, n := range c {
			seen[n]++
		}
	}
	if !slices.Equal(sizes, []int{10, 10, 3}) {
		t.Errorf("batch sizes = %v, want [10 10 3]", sizes)
	}
	if len(seen) != 23 {
		t.Errorf("%d distinct names requested, want 23", len(seen))
	}
	for n, c := range seen {
		if c != 1 {
			t.Errorf("%s requested %d times", n, c)
		}
	}
}

func TestResolveUnknownParameter(t *testing.T) {
	f := newFakeSSM(t, map[string]string{"/chorus/known": "known-s3cret-value"})
	awsEnv(t, f.URL)
	refs := map[string]*string{
		"jwt-secret":   ptr("ssm:///chorus/known"),
		"database-url": ptr("ssm:///chorus/missing"),
		"redis-url":    ptr("ssm:///chorus/also-missing"),
	}
	err := Resolve(context.Background(), refs, Options{})
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	msg := err.Error()
	for _, s := range []string{`"database-url"`, `"/chorus/missing"`, `"redis-url"`, `"/chorus/also-missing"`} {
		if !strings.Contains(msg, s) {
			t.Errorf("error lacks %s: %s", s, msg)
		}
	}
	if strings.Contains(msg, `"jwt-secret"`) {
		t.Errorf("error names the setting that resolved: %s", msg)
	}
	assertNoSecret(t, err, "known-s3cret-value")
	if *refs["jwt-secret"] != "ssm:///chorus/known" {
		t.Errorf("jwt-secret changed to %q although resolution failed (want all or nothing)", *refs["jwt-secret"])
	}
}

func TestResolveMissingFromResponse(t *testing.T) {
	f := newFakeSSM(t, map[string]string{"/a": "a-value", "/b": "b-value"})
	f.omit["/b"] = true
	awsEnv(t, f.URL)
	refs := map[string]*string{"one": ptr("ssm:///a"), "two": ptr("ssm:///b")}
	err := Resolve(context.Background(), refs, Options{})
	if err == nil || !strings.Contains(err.Error(), `setting "two": parameter "/b": missing from the GetParameters response`) {
		t.Fatalf("err = %v", err)
	}
	assertNoSecret(t, err, "a-value", "b-value")
}

func TestResolveServerError(t *testing.T) {
	f := newFakeSSM(t, map[string]string{"/a": "a-value"})
	f.fail = func(w http.ResponseWriter, call int) bool {
		apiError(w, http.StatusInternalServerError, "InternalServerError", "the service is down")
		return true
	}
	awsEnv(t, f.URL)
	refs := map[string]*string{"jwt-secret": ptr("ssm:///a")}
	err := Resolve(context.Background(), refs, Options{MaxAttempts: 2, MaxBackoff: time.Millisecond})
	if err == nil {
		t.Fatal("no error on a 500")
	}
	msg := err.Error()
	for _, s := range []string{`get parameters "/a" (setting "jwt-secret")`, "InternalServerError", "StatusCode: 500"} {
		if !strings.Contains(msg, s) {
			t.Errorf("error lacks %q: %s", s, msg)
		}
	}
	if n := len(f.Calls()); n != 2 {
		t.Errorf("%d calls, want 2 (MaxAttempts)", n)
	}
	if *refs["jwt-secret"] != "ssm:///a" {
		t.Errorf("value changed on error: %q", *refs["jwt-secret"])
	}
}

func TestResolveRetriesThenSucceeds(t *testing.T) {
	f := newFakeSSM(t, map[string]string{"/a": "a-value"})
	f.fail = func(w http.ResponseWriter, call int) bool {
		if call == 1 {
			apiError(w, http.StatusServiceUnavailable, "ServiceUnavailable", "try again")
			return true
		}
		return false
	}
	awsEnv(t, f.URL)
	refs := map[string]*string{"jwt-secret": ptr("ssm:///a")}
	if err := Resolve(context.Background(), refs, Options{MaxBackoff: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if *refs["jwt-secret"] != "a-value" || len(f.Calls()) != 2 {
		t.Errorf("value %q after %d calls, want a-value after 2", *refs["jwt-secret"], len(f.Calls()))
	}
}

func TestResolveLaterBatchFailsWithoutLeakingEarlierValues(t *testing.T) {
	params := map[string]string{}
	refs := map[string]*string{}
	var values []string
	for i := range 12 {
		name := fmt.Sprintf("/p%02d", i)
		v := fmt.Sprintf("secret-value-%02d", i)
		params[name], values = v, append(values, v)
		refs[fmt.Sprintf("s%02d", i)] = ptr("ssm://" + name)
	}
	f := newFakeSSM(t, params)
	f.fail = func(w http.ResponseWriter, call int) bool {
		if call == 2 {
			// An error message that quotes a value resolved in batch 1.
			apiError(w, http.StatusBadRequest, "ValidationException", "rejected near secret-value-03")
			return true
		}
		return false
	}
	awsEnv(t, f.URL)
	err := Resolve(context.Background(), refs, Options{})
	if err == nil || !strings.Contains(err.Error(), "ValidationException") || !strings.Contains(err.Error(), Redacted) {
		t.Fatalf("err = %v, want the ValidationException with the value redacted", err)
	}
	assertNoSecret(t, err, values...)
	if *refs["s03"] != "ssm:///p03" {
		t.Errorf("s03 changed on error")
	}
}

func TestResolveTimeout(t *testing.T) {
	f := newFakeSSM(t, map[string]string{"/a": "a-value"})
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	f.fail = func(w http.ResponseWriter, call int) bool {
		<-release
		return true
	}
	awsEnv(t, f.URL)
	refs := map[string]*string{"jwt-secret": ptr("ssm:///a")}
	err := Resolve(context.Background(), refs, Options{Timeout: 100 * time.Millisecond})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
	if !strings.Contains(err.Error(), `(setting "jwt-secret"): no answer within 100ms`) {
		t.Errorf("error does not say what timed out: %s", err)
	}
}

func TestResolveCanceled(t *testing.T) {
	f := newFakeSSM(t, map[string]string{"/a": "a-value"})
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	ctx, cancel := context.WithCancel(context.Background())
	f.fail = func(w http.ResponseWriter, call int) bool {
		cancel()
		<-release
		return true
	}
	awsEnv(t, f.URL)
	err := Resolve(ctx, map[string]*string{"x": ptr("ssm:///a")}, Options{})
	if !errors.Is(err, context.Canceled) || strings.Contains(err.Error(), "no answer within") {
		t.Fatalf("err = %v, want Canceled (not a timeout)", err)
	}
}

func TestResolveUndecodableResponse(t *testing.T) {
	f := newFakeSSM(t, nil)
	f.fail = func(w http.ResponseWriter, call int) bool {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		fmt.Fprint(w, `{"Parameters":[{"Name":"/a","Value":"half-sent-s3cret`)
		return true
	}
	awsEnv(t, f.URL)
	err := Resolve(context.Background(), map[string]*string{"jwt-secret": ptr("ssm:///a")}, Options{})
	if err == nil || !strings.Contains(err.Error(), `(setting "jwt-secret"): undecodable response from SSM`) {
		t.Fatalf("err = %v", err)
	}
	assertNoSecret(t, err, "half-sent-s3cret", "s3cret")
}

func TestResolveMalformedRefs(t *testing.T) {
	f := newFakeSSM(t, map[string]string{"/a": "a-value"})
	awsEnv(t, f.URL)
	refs := map[string]*string{
		"jwt-secret":   ptr("ssm:/chorus/typo-with-pa55word"),
		"database-url": ptr("ssm://chorus/two-slashes-pa55word"),
		"redis-url":    ptr("ssm:///a"),
	}
	err := Resolve(context.Background(), refs, Options{})
	if !errors.Is(err, ErrMalformedRef) {
		t.Fatalf("err = %v, want ErrMalformedRef", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, `setting "jwt-secret"`) || !strings.Contains(msg, `setting "database-url"`) {
		t.Errorf("error does not name both settings: %s", msg)
	}
	if strings.Contains(msg, "pa55word") || strings.Contains(msg, "chorus/") {
		t.Errorf("error quotes the value: %s", msg)
	}
	if n := len(f.Calls()); n != 0 {
		t.Errorf("%d requests made despite malformed refs", n)
	}
	if *refs["redis-url"] != "ssm:///a" {
		t.Errorf("redis-url resolved although the call failed")
	}
}

func TestResolveNoRefsMakesNoRequest(t *testing.T) {
	f := newFakeSSM(t, map[string]string{"/a": "a-value"})
	awsEnv(t, f.URL)
	// No region and a broken endpoint: loading the AWS config would fail, so
	// success proves it is not loaded.
	t.Setenv("AWS_REGION", "")
	t.Setenv(EndpointEnv, "::not a url")
	refs := map[string]*string{"log-level": ptr("info"), "database-url": ptr("postgres://x/ssm:///a"), "empty": ptr("")}
	for _, r := range []map[string]*string{nil, {}, refs} {
		if err := Resolve(context.Background(), r, Options{}); err != nil {
			t.Fatalf("Resolve(%d refs) = %v", len(r), err)
		}
	}
	if *refs["database-url"] != "postgres://x/ssm:///a" || *refs["log-level"] != "info" {
		t.Error("literal values changed")
	}
	if n := len(f.Calls()); n != 0 {
		t.Errorf("%d requests without any ssm:// value", n)
	}
}

func TestResolveNilPointer(t *testing.T) {
	awsEnv(t, "")
	err := Resolve(context.Background(), map[string]*string{"jwt-secret": nil}, Options{})
	if err == nil || !strings.Contains(err.Error(), `setting "jwt-secret": nil value pointer`) {
		t.Fatalf("err = %v", err)
	}
}

func TestResolveNoRegion(t *testing.T) {
	f := newFakeSSM(t, map[string]string{"/a": "a-value"})
	awsEnv(t, f.URL)
	t.Setenv("AWS_REGION", "")
	err := Resolve(context.Background(), map[string]*string{"jwt-secret": ptr("ssm:///a")}, Options{})
	if !errors.Is(err, ErrNoRegion) || !strings.Contains(err.Error(), "AWS_REGION") {
		t.Fatalf("err = %v, want ErrNoRegion naming AWS_REGION", err)
	}
	// Options.Region fills the gap.
	refs := map[string]*string{"jwt-secret": ptr("ssm:///a")}
	if err := Resolve(context.Background(), refs, Options{Region: "us-east-1"}); err != nil || *refs["jwt-secret"] != "a-value" {
		t.Fatalf("with Options.Region: err = %v, value %q", err, *refs["jwt-secret"])
	}
}

func TestResolveNoCredentials(t *testing.T) {
	f := newFakeSSM(t, map[string]string{"/a": "a-value"})
	awsEnv(t, f.URL)
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	err := Resolve(context.Background(), map[string]*string{"jwt-secret": ptr("ssm:///a")}, Options{MaxBackoff: time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), `(setting "jwt-secret")`) || !strings.Contains(err.Error(), "credentials") {
		t.Fatalf("err = %v, want a credentials error naming the setting", err)
	}
	if n := len(f.Calls()); n != 0 {
		t.Errorf("%d unsigned requests sent", n)
	}
}

func TestResolveBadEndpoint(t *testing.T) {
	awsEnv(t, "")
	for _, ep := range []string{"127.0.0.1:4566", "ftp://host", "http://"} {
		err := Resolve(context.Background(), map[string]*string{"x": ptr("ssm:///a")}, Options{Endpoint: ep})
		if err == nil || !strings.Contains(err.Error(), "not an http(s):// URL") {
			t.Errorf("endpoint %q: err = %v", ep, err)
		}
	}
}

func TestResolverOptionsOverrideEnv(t *testing.T) {
	f := newFakeSSM(t, map[string]string{"/a": "a-value", "/b": "b-value"})
	awsEnv(t, "http://127.0.0.1:1") // nothing listens there
	var requests atomic.Int32
	client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		requests.Add(1)
		return http.DefaultTransport.RoundTrip(r)
	})}
	// Options.Endpoint wins over CHORUS_SSM_ENDPOINT; one Resolver serves
	// several calls.
	r, err := NewResolver(context.Background(), Options{Endpoint: f.URL, HTTPClient: client})
	if err != nil {
		t.Fatal(err)
	}
	a, b := map[string]*string{"one": ptr("ssm:///a")}, map[string]*string{"two": ptr("ssm:///b"), "three": ptr("lit")}
	if err := r.Resolve(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if err := r.Resolve(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if *a["one"] != "a-value" || *b["two"] != "b-value" || *b["three"] != "lit" {
		t.Errorf("values %q %q %q", *a["one"], *b["two"], *b["three"])
	}
	if got := requests.Load(); got != 2 {
		t.Errorf("%d requests through Options.HTTPClient, want 2", got)
	}
	// Getenv replaces os.Getenv for CHORUS_SSM_ENDPOINT.
	c := map[string]*string{"one": ptr("ssm:///a")}
	getenv := func(k string) string {
		if k == EndpointEnv {
			return f.URL
		}
		return ""
	}
	if err := Resolve(context.Background(), c, Options{Getenv: getenv}); err != nil || *c["one"] != "a-value" {
		t.Fatalf("with Getenv: err = %v, value %q", err, *c["one"])
	}
	// Resolver.Resolve validates like Resolve.
	if err := r.Resolve(context.Background(), map[string]*string{"x": ptr("ssm:bad")}); !errors.Is(err, ErrMalformedRef) {
		t.Errorf("Resolver.Resolve malformed: %v", err)
	}
	if err := r.Resolve(context.Background(), map[string]*string{"x": ptr("plain")}); err != nil {
		t.Errorf("Resolver.Resolve without refs: %v", err)
	}
	if n := len(f.Calls()); n != 3 {
		t.Errorf("%d calls, want 3", n)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// BenchmarkResolve measures one start-up resolution of 23 settings (3
// GetParameters calls) against the local fake, AWS config loading included.
func BenchmarkResolve(b *testing.B) {
	params := map[string]string{}
	for i := range 23 {
		params[fmt.Sprintf("/chorus/p%02d", i)] = fmt.Sprintf("value-%02d", i)
	}
	f := newFakeSSM(b, params)
	b.Setenv("AWS_ACCESS_KEY_ID", "test")
	b.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	b.Setenv("AWS_REGION", "us-east-1")
	b.Setenv("AWS_CA_BUNDLE", "")
	b.Setenv("AWS_CONFIG_FILE", filepath.Join(b.TempDir(), "none"))
	b.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(b.TempDir(), "none"))
	for b.Loop() {
		refs := map[string]*string{}
		for i := range 23 {
			refs[fmt.Sprintf("s%02d", i)] = ptr(fmt.Sprintf("ssm:///chorus/p%02d", i))
		}
		if err := Resolve(context.Background(), refs, Options{Endpoint: f.URL}); err != nil {
			b.Fatal(err)
		}
	}
}
