package auth_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/enkisys/chorus/internal/auth"
	"github.com/enkisys/chorus/internal/chorus"
	"github.com/golang-jwt/jwt/v5"
)

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func decodeError(t *testing.T, rec *httptest.ResponseRecorder) errorBody {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q", ct)
	}
	var b errorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
		t.Fatalf("body %q: %v", rec.Body.String(), err)
	}
	return b
}

func TestMiddleware(t *testing.T) {
	t.Parallel()
	v := newVerifier(t, auth.Config{Secret: testSecret})
	good := sign(t, jwt.SigningMethodHS256, testSecret, "", claims())
	expired := sign(t, jwt.SigningMethodHS256, testSecret, "", claims(set("iat", time.Now().Add(-3*time.Hour).Unix()), set("exp", time.Now().Add(-2*time.Hour).Unix())))

	tests := []struct {
		name       string
		header     http.Header
		target     string
		provision  func(context.Context, chorus.Principal) error
		wantStatus int
		wantCode   string
	}{
		{name: "OK", header: http.Header{"Authorization": {"Bearer " + good}, "X-Tenant-Id": {"acme"}}, wantStatus: 200},
		{name: "LowercaseScheme", header: http.Header{"Authorization": {"bearer " + good}, "X-Tenant-Id": {"acme"}}, wantStatus: 200},
		{name: "MissingAuthorization", header: http.Header{"X-Tenant-Id": {"acme"}}, wantStatus: 401, wantCode: chorus.EUNAUTHORIZED},
		{name: "BasicScheme", header: http.Header{"Authorization": {"Basic YTpi"}, "X-Tenant-Id": {"acme"}}, wantStatus: 401, wantCode: chorus.EUNAUTHORIZED},
		{name: "BearerEmpty", header: http.Header{"Authorization": {"Bearer "}, "X-Tenant-Id": {"acme"}}, wantStatus: 401, wantCode: chorus.EUNAUTHORIZED},
		{name: "Expired", header: http.Header{"Authorization": {"Bearer " + expired}, "X-Tenant-Id": {"acme"}}, wantStatus: 401, wantCode: chorus.EUNAUTHORIZED},
		{name: "InvalidAndNoTenantIs401", header: http.Header{"Authorization": {"Bearer x.y.z"}}, wantStatus: 401, wantCode: chorus.EUNAUTHORIZED},
		{name: "MissingTenantHeader", header: http.Header{"Authorization": {"Bearer " + good}}, wantStatus: 403, wantCode: chorus.EFORBIDDEN},
		{name: "WrongTenantHeader", header: http.Header{"Authorization": {"Bearer " + good}, "X-Tenant-Id": {"globex"}}, wantStatus: 403, wantCode: chorus.EFORBIDDEN},
		{name: "TenantHeaderCaseDiffers", header: http.Header{"Authorization": {"Bearer " + good}, "X-Tenant-Id": {"ACME"}}, wantStatus: 403, wantCode: chorus.EFORBIDDEN},
		{name: "QueryTokenNotAcceptedOnREST", target: "/?access_token=" + good + "&tenant_id=acme", wantStatus: 401, wantCode: chorus.EUNAUTHORIZED},
		{name: "ProvisionChorusError", header: http.Header{"Authorization": {"Bearer " + good}, "X-Tenant-Id": {"acme"}},
			provision: func(context.Context, chorus.Principal) error {
				return chorus.Errorf(chorus.EFORBIDDEN, "Agent disabled.")
			},
			wantStatus: 403, wantCode: chorus.EFORBIDDEN},
		{name: "ProvisionInternalError", header: http.Header{"Authorization": {"Bearer " + good}, "X-Tenant-Id": {"acme"}},
			provision: func(context.Context, chorus.Principal) error {
				return errors.New("postgres: connection refused at 10.0.0.1")
			},
			wantStatus: 500, wantCode: chorus.EINTERNAL},
		{name: "ProvisionRateLimited", header: http.Header{"Authorization": {"Bearer " + good}, "X-Tenant-Id": {"acme"}},
			provision: func(context.Context, chorus.Principal) error {
				return &chorus.Error{Code: chorus.ERATELIMITED, Message: "Slow down.", RetryAfterSeconds: 7}
			},
			wantStatus: 429, wantCode: chorus.ERATELIMITED},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var provisioned, reached *chorus.Principal
			provision := func(ctx context.Context, p chorus.Principal) error {
				provisioned = &p
				if tt.provision != nil {
					return tt.provision(ctx, p)
				}
				return nil
			}
			h := v.Middleware(provision)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				p, err := chorus.PrincipalFromContext(r.Context())
				if err != nil {
					t.Errorf("PrincipalFromContext: %v", err)
				}
				reached = &p
				w.WriteHeader(http.StatusOK)
			}))
			target := tt.target
			if target == "" {
				target = "/api/v1/me"
			}
			req := httptest.NewRequest(http.MethodGet, target, nil)
			for k, vs := range tt.header {
				req.Header[http.CanonicalHeaderKey(k)] = vs
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tt.wantStatus, rec.Body)
			}
			if tt.wantStatus == 200 {
				if reached == nil || reached.TenantID != "acme" || reached.Subject != "agent-1" {
					t.Fatalf("handler principal = %+v", reached)
				}
				if provisioned == nil || provisioned.Subject != "agent-1" || provisioned.Email != "ada@example.com" {
					t.Fatalf("provisioned = %+v", provisioned)
				}
				return
			}
			if reached != nil {
				t.Fatal("handler reached on an error")
			}
			b := decodeError(t, rec)
			if b.Error.Code != tt.wantCode || b.Error.Message == "" {
				t.Fatalf("error body = %+v, want code %s", b, tt.wantCode)
			}
			switch tt.wantStatus {
			case 401:
				if provisioned != nil {
					t.Fatal("provision called for an unauthenticated request")
				}
				if rec.Header().Get("WWW-Authenticate") == "" {
					t.Fatal("401 without WWW-Authenticate")
				}
			case 403:
				if tt.provision == nil && provisioned != nil {
					t.Fatal("provision called before the tenant check")
				}
			case 500:
				if b.Error.Message != "An internal error occurred." {
					t.Fatalf("internal error leaked: %q", b.Error.Message)
				}
			case 429:
				if rec.Header().Get("Retry-After") != "7" {
					t.Fatalf("Retry-After = %q", rec.Header().Get("Retry-After"))
				}
			}
		})
	}
}

func TestMiddlewareNilProvisionAndCustomErrorWriter(t *testing.T) {
	t.Parallel()
	v := newVerifier(t, auth.Config{Secret: testSecret})
	var gotErr error
	v.ErrorWriter = func(w http.ResponseWriter, r *http.Request, err error) {
		gotErr = err
		w.WriteHeader(http.StatusTeapot)
	}
	ok := false
	h := v.Middleware(nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { ok = true }))

	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Authorization", "Bearer "+sign(t, jwt.SigningMethodHS256, testSecret, "", claims()))
	req.Header.Set("X-Tenant-ID", "acme")
	h.ServeHTTP(httptest.NewRecorder(), req)
	if !ok {
		t.Fatal("nil provision: handler not reached")
	}

	req = httptest.NewRequest(http.MethodGet, "/", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusTeapot || chorus.ErrorCode(gotErr) != chorus.EUNAUTHORIZED {
		t.Fatalf("custom writer: status %d, err %v", rec.Code, gotErr)
	}
}

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	v := newVerifier(t, auth.Config{Secret: testSecret})
	good := sign(t, jwt.SigningMethodHS256, testSecret, "", claims())
	other := sign(t, jwt.SigningMethodHS256, testSecret, "", claims(set("tenant_id", "globex"), set("sub", "agent-2")))
	q := func(token, tenant string) string {
		v := url.Values{}
		if token != "" {
			v.Set("access_token", token)
		}
		if tenant != "" {
			v.Set("tenant_id", tenant)
		}
		return "/ws/v1/agent?" + v.Encode()
	}

	tests := []struct {
		name     string
		target   string
		header   http.Header
		wantSub  string
		wantCode string
	}{
		{name: "Headers", target: "/ws/v1/agent", header: http.Header{"Authorization": {"Bearer " + good}, "X-Tenant-Id": {"acme"}}, wantSub: "agent-1"},
		{name: "Query", target: q(good, "acme"), wantSub: "agent-1"},
		{name: "HeaderTokenQueryTenant", target: q("", "acme"), header: http.Header{"Authorization": {"Bearer " + good}}, wantSub: "agent-1"},
		{name: "HeaderTokenWins", target: q("garbage", "acme"), header: http.Header{"Authorization": {"Bearer " + good}}, wantSub: "agent-1"},
		{name: "HeaderTokenWinsOverValidQuery", target: q(other, "globex"), header: http.Header{"Authorization": {"Bearer " + good}}, wantCode: chorus.EFORBIDDEN},
		{name: "BadHeaderDoesNotFallBackToQuery", target: q(good, "acme"), header: http.Header{"Authorization": {"Basic abc"}}, wantCode: chorus.EUNAUTHORIZED},
		{name: "HeaderTenantWins", target: q(good, "acme"), header: http.Header{"X-Tenant-Id": {"globex"}}, wantCode: chorus.EFORBIDDEN},
		{name: "NoToken", target: q("", "acme"), wantCode: chorus.EUNAUTHORIZED},
		{name: "BadToken", target: q("a.b.c", "acme"), wantCode: chorus.EUNAUTHORIZED},
		{name: "NoTenant", target: q(good, ""), wantCode: chorus.EFORBIDDEN},
		{name: "WrongTenant", target: q(good, "globex"), wantCode: chorus.EFORBIDDEN},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest(http.MethodGet, tt.target, nil)
			for k, vs := range tt.header {
				req.Header[http.CanonicalHeaderKey(k)] = vs
			}
			p, err := v.Authenticate(req)
			if tt.wantCode != "" {
				if chorus.ErrorCode(err) != tt.wantCode {
					t.Fatalf("err = %v, want code %s", err, tt.wantCode)
				}
				// The gateway refuses the upgrade with the same status and body.
				rec := httptest.NewRecorder()
				auth.WriteError(rec, req, err)
				want := map[string]int{chorus.EUNAUTHORIZED: 401, chorus.EFORBIDDEN: 403}[tt.wantCode]
				if rec.Code != want || decodeError(t, rec).Error.Code != tt.wantCode {
					t.Fatalf("WriteError: %d %s", rec.Code, rec.Body)
				}
				return
			}
			if err != nil {
				t.Fatalf("Authenticate: %v", err)
			}
			if p.Subject != tt.wantSub {
				t.Fatalf("sub = %q, want %q", p.Subject, tt.wantSub)
			}
		})
	}
}

func TestWriteErrorStatuses(t *testing.T) {
	t.Parallel()
	for code, status := range map[string]int{
		chorus.EINVALID: 400, chorus.ENOTFOUND: 404, chorus.ECONFLICT: 409, chorus.ETOOLARGE: 413,
		chorus.EUNAVAILABLE: 503, chorus.EINTERNAL: 500, "made_up": 500,
	} {
		rec := httptest.NewRecorder()
		auth.WriteError(rec, httptest.NewRequest(http.MethodGet, "/", nil), chorus.Errorf(code, "Msg."))
		if rec.Code != status {
			t.Errorf("%s: status %d, want %d", code, rec.Code, status)
		}
		if b := decodeError(t, rec); b.Error.Code != code || b.Error.Message != "Msg." {
			t.Errorf("%s: body %+v", code, b)
		}
	}
}
