package auth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/enkisys/chorus/internal/chorus"
)

// Header and query parameter names of PROTOCOL.md.
const (
	HeaderTenantID   = "X-Tenant-ID"
	QueryAccessToken = "access_token"
	QueryTenantID    = "tenant_id"
)

// Middleware authenticates every request: it reads "Authorization: Bearer",
// verifies the token (401 on failure), requires X-Tenant-ID equal to the
// token's tenant_id (403 when missing or different), calls provision when
// non-nil (just-in-time tenant/agent provisioning; its error goes to the
// client), and stores the principal with chorus.NewContextWithPrincipal.
// Query-string tokens are not accepted here (they would end up in logs);
// only Authenticate, for WebSocket upgrades, reads them.
func (v *Verifier) Middleware(provision func(context.Context, chorus.Principal) error) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			token, ok := bearer(r.Header.Get("Authorization"))
			if !ok {
				v.writeError(w, r, errUnauthorized())
				return
			}
			p, err := v.check(token, r.Header.Get(HeaderTenantID))
			if err != nil {
				v.writeError(w, r, err)
				return
			}
			if provision != nil {
				if err := provision(r.Context(), p); err != nil {
					v.writeError(w, r, err)
					return
				}
			}
			next.ServeHTTP(w, r.WithContext(chorus.NewContextWithPrincipal(r.Context(), p)))
		})
	}
}

// Authenticate checks a WebSocket upgrade request. The token comes from
// "Authorization: Bearer" or else the access_token query parameter; the
// tenant from X-Tenant-ID or else the tenant_id query parameter (headers
// win). The checks and errors are those of Middleware: an EUNAUTHORIZED or
// EFORBIDDEN *chorus.Error, which WriteError renders as 401 or 403.
func (v *Verifier) Authenticate(r *http.Request) (chorus.Principal, error) {
	var token string
	if h := r.Header.Get("Authorization"); h != "" {
		t, ok := bearer(h)
		if !ok {
			return chorus.Principal{}, errUnauthorized()
		}
		token = t
	} else {
		token = r.URL.Query().Get(QueryAccessToken)
	}
	if token == "" {
		return chorus.Principal{}, errUnauthorized()
	}
	tenant := r.Header.Get(HeaderTenantID)
	if tenant == "" {
		tenant = r.URL.Query().Get(QueryTenantID)
	}
	return v.check(token, tenant)
}

// check verifies token, then the tenant it is presented for.
func (v *Verifier) check(token, tenant string) (chorus.Principal, error) {
	p, err := v.Verify(token)
	if err != nil {
		return chorus.Principal{}, err
	}
	if tenant == "" {
		return chorus.Principal{}, chorus.Errorf(chorus.EFORBIDDEN, "The %s header is required.", HeaderTenantID)
	}
	if tenant != p.TenantID {
		return chorus.Principal{}, chorus.Errorf(chorus.EFORBIDDEN, "The token does not grant access to this tenant.")
	}
	return p, nil
}

// bearer extracts the token of an "Authorization: Bearer <token>" value.
func bearer(h string) (string, bool) {
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

func (v *Verifier) writeError(w http.ResponseWriter, r *http.Request, err error) {
	if v.ErrorWriter != nil {
		v.ErrorWriter(w, r, err)
		return
	}
	WriteError(w, r, err)
}

// WriteError is the default error writer: PROTOCOL.md's body
// {"error":{"code","message"}} with the status of the code (401 and 403 for
// authentication; any other code, e.g. from provisioning, maps as the server
// does; non-*chorus.Error errors are 500 with a generic message).
func WriteError(w http.ResponseWriter, _ *http.Request, err error) {
	code, status := chorus.ErrorCode(err), chorus.HTTPStatus(err)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	if status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Bearer realm="chorus"`)
	}
	var ce *chorus.Error
	if errors.As(err, &ce) && ce.Code == chorus.ERATELIMITED && ce.RetryAfterSeconds > 0 {
		h.Set("Retry-After", strconv.Itoa(ce.RetryAfterSeconds))
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(errorBody{Error: errorDetail{Code: code, Message: chorus.ErrorMessage(err)}})
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}
