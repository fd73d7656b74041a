// Package auth turns bearer tokens into a chorus.Principal. It is the only
// package that imports golang-jwt: it verifies HS256 tokens signed with the
// server's secret and, when a JWKS URL is configured, RS256/ES256 tokens issued
// by the host platform; it issues HS256 tokens (chorus token, login, widget
// sessions); it provides the HTTP middleware and the WebSocket handshake check;
// and it hashes and checks local account passwords.
package auth

import (
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/enkisys/chorus/internal/chorus"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

// Defaults.
const (
	// MaxTTLDefault is the longest token lifetime (exp - iat) accepted and issued.
	MaxTTLDefault = 6 * time.Hour
	// Leeway is the clock skew tolerated on exp, nbf and iat.
	Leeway = 30 * time.Second
	// JWKSRefreshIntervalDefault is how often the JWK Set is refetched in the background.
	JWKSRefreshIntervalDefault = time.Hour
	// JWKSUnknownKIDIntervalDefault is the minimum time between two refreshes
	// triggered by a token whose kid is not in the cached set (key rotation).
	JWKSUnknownKIDIntervalDefault = time.Minute
	// MaxTokenBytes bounds the size of a token before any parsing.
	MaxTokenBytes = 8 << 10
	// RecommendedSecretBytes is the HS256 secret length below which NewVerifier warns.
	RecommendedSecretBytes = 32
)

// Algorithms accepted. The key type is pinned by the algorithm: HS256 only
// ever verifies against Config.Secret, RS256 only against an RSA key of the
// JWK Set, ES256 only against a P-256 key of the JWK Set.
const (
	algHS256 = "HS256"
	algRS256 = "RS256"
	algES256 = "ES256"
)

// Config configures a Verifier.
type Config struct {
	// Secret verifies HS256 tokens. Empty disables HS256.
	Secret []byte
	// JWKSURL, when set, enables RS256/ES256 tokens whose keys are fetched
	// from this JWK Set (cached, refreshed in the background, and refreshed
	// on an unknown kid at most once per JWKSUnknownKIDInterval).
	JWKSURL string
	// Issuer and Audience, when set, must match the token's iss and aud.
	Issuer   string
	Audience string
	// MaxTTL bounds exp - iat (default MaxTTLDefault; never above it).
	MaxTTL time.Duration

	// JWKSRefreshInterval overrides JWKSRefreshIntervalDefault.
	JWKSRefreshInterval time.Duration
	// JWKSUnknownKIDInterval overrides JWKSUnknownKIDIntervalDefault.
	JWKSUnknownKIDInterval time.Duration
}

// Verifier verifies tokens. It is safe for concurrent use.
type Verifier struct {
	cfg    Config
	logger *slog.Logger
	jwks   keyfunc.Keyfunc // nil without JWKSURL
	parser *jwt.Parser

	// ErrorWriter writes the errors of Middleware (authentication failures
	// and provisioning errors). Set it before serving; nil means WriteError.
	ErrorWriter func(w http.ResponseWriter, r *http.Request, err error)
}

// NewVerifier returns a Verifier for cfg. With a JWKSURL it starts a
// background refresh that ends with ctx; the first fetch failing is not an
// error (it is retried on the next unknown kid and on each refresh).
func NewVerifier(ctx context.Context, cfg Config, logger *slog.Logger) (*Verifier, error) {
	if logger == nil {
		return nil, errors.New("auth: new verifier: logger is nil")
	}
	if len(cfg.Secret) == 0 && cfg.JWKSURL == "" {
		return nil, errors.New("auth: new verifier: neither a secret nor a JWKS URL is configured")
	}
	cfg.MaxTTL = min(cmp.Or(cfg.MaxTTL, MaxTTLDefault), MaxTTLDefault)
	if cfg.MaxTTL < 0 {
		return nil, errors.New("auth: new verifier: negative max TTL")
	}
	cfg.Secret = slices.Clone(cfg.Secret)
	if n := len(cfg.Secret); n > 0 && n < RecommendedSecretBytes {
		logger.Warn("jwt secret is shorter than recommended", "secret_bytes", n, "recommended_bytes", RecommendedSecretBytes)
	}

	v := &Verifier{cfg: cfg, logger: logger}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(v.methods()),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(Leeway),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	v.parser = jwt.NewParser(opts...)

	if cfg.JWKSURL != "" {
		every := cmp.Or(cfg.JWKSUnknownKIDInterval, JWKSUnknownKIDIntervalDefault)
		kf, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{cfg.JWKSURL}, keyfunc.Override{
			HTTPTimeout:     10 * time.Second,
			RefreshInterval: cmp.Or(cfg.JWKSRefreshInterval, JWKSRefreshIntervalDefault),
			// One refresh per interval for unknown kids; a request never
			// waits long for the limiter (the wait bound also bounds the
			// refresh itself, so it cannot be tiny).
			RefreshUnknownKID: rate.NewLimiter(rate.Every(every), 1),
			RateLimitWaitMax:  5 * time.Second,
			RefreshErrorHandlerFunc: func(u string) func(context.Context, error) {
				return func(ctx context.Context, err error) {
					logger.WarnContext(ctx, "jwks refresh failed", "error", err)
				}
			},
		})
		if err != nil {
			return nil, fmt.Errorf("auth: new verifier: jwks: %w", err)
		}
		v.jwks = kf
	}
	return v, nil
}

func (v *Verifier) methods() []string {
	var m []string
	if len(v.cfg.Secret) > 0 {
		m = append(m, algHS256)
	}
	if v.cfg.JWKSURL != "" {
		m = append(m, algRS256, algES256)
	}
	return m
}

// tokenClaims is the payload shape of a Chorus token.
type tokenClaims struct {
	jwt.RegisteredClaims
	TenantID       string   `json:"tenant_id"`
	Roles          []string `json:"roles"`
	ConversationID string   `json:"conversation_id,omitempty"`
	Name           string   `json:"name,omitempty"`
	Email          string   `json:"email,omitempty"`
}

// errUnauthorized is the only error Verify returns: the reason is logged at
// debug level, never shown to the caller.
func errUnauthorized() *chorus.Error {
	return chorus.Errorf(chorus.EUNAUTHORIZED, "Invalid or expired token.")
}

// Verify checks token and returns its principal, or an EUNAUTHORIZED
// *chorus.Error with a generic message.
func (v *Verifier) Verify(token string) (chorus.Principal, error) {
	p, err := v.verify(token)
	if err != nil {
		v.logger.Debug("token refused", "reason", err.Error())
		return chorus.Principal{}, errUnauthorized()
	}
	return p, nil
}

func (v *Verifier) verify(token string) (chorus.Principal, error) {
	if token == "" {
		return chorus.Principal{}, errors.New("empty token")
	}
	if len(token) > MaxTokenBytes {
		return chorus.Principal{}, errors.New("token too long")
	}
	var c tokenClaims
	if _, err := v.parser.ParseWithClaims(token, &c, v.keyFor); err != nil {
		return chorus.Principal{}, err
	}
	if c.IssuedAt == nil {
		return chorus.Principal{}, errors.New("iat missing")
	}
	// exp is required by the parser.
	if ttl := c.ExpiresAt.Sub(c.IssuedAt.Time); ttl > v.cfg.MaxTTL {
		return chorus.Principal{}, fmt.Errorf("lifetime %s exceeds %s", ttl, v.cfg.MaxTTL)
	} else if ttl <= 0 {
		return chorus.Principal{}, errors.New("exp not after iat")
	}
	return principalOf(c)
}

// principalOf checks the Chorus claims and builds the principal.
func principalOf(c tokenClaims) (chorus.Principal, error) {
	if !chorus.ValidID(c.Subject) {
		return chorus.Principal{}, errors.New("invalid sub")
	}
	if !chorus.ValidTenantID(c.TenantID) {
		return chorus.Principal{}, errors.New("invalid tenant_id")
	}
	if err := checkRoles(c.Roles); err != nil {
		return chorus.Principal{}, err
	}
	if c.ConversationID != "" && !chorus.ValidID(c.ConversationID) {
		return chorus.Principal{}, errors.New("invalid conversation_id")
	}
	p := chorus.Principal{
		TenantID:       c.TenantID,
		Subject:        c.Subject,
		Roles:          slices.Clone(c.Roles),
		ConversationID: c.ConversationID,
		Name:           c.Name,
		Email:          c.Email,
	}
	if p.IsVisitor() && p.ConversationID == "" {
		return chorus.Principal{}, errors.New("visitor token without conversation_id")
	}
	return p, nil
}

func checkRoles(roles []string) error {
	if len(roles) == 0 {
		return errors.New("no roles")
	}
	if len(roles) > len(chorus.ValidRoles) {
		return errors.New("too many roles")
	}
	for _, r := range roles {
		if !slices.Contains(chorus.ValidRoles, r) {
			return fmt.Errorf("unknown role %q", r)
		}
	}
	return nil
}

// keyFor is the jwt.Keyfunc: the algorithm (already restricted to the
// enabled ones by the parser) picks the key source and the key type.
func (v *Verifier) keyFor(t *jwt.Token) (any, error) {
	switch t.Method.Alg() {
	case algHS256:
		if len(v.cfg.Secret) == 0 {
			return nil, errors.New("hs256 disabled")
		}
		return v.cfg.Secret, nil
	case algRS256, algES256:
		if v.jwks == nil {
			return nil, errors.New("jwks disabled")
		}
		k, err := v.jwks.Keyfunc(t)
		if err != nil {
			return nil, err
		}
		return pinKey(t.Method.Alg(), k)
	default:
		return nil, fmt.Errorf("algorithm %q not allowed", t.Method.Alg())
	}
}

// pinKey keeps only keys whose type matches alg (RSA for RS256, P-256 ECDSA
// for ES256). k is a single key or, for a token without kid, a key set.
func pinKey(alg string, k any) (any, error) {
	if set, ok := k.(jwt.VerificationKeySet); ok {
		var out jwt.VerificationKeySet
		for _, key := range set.Keys {
			if keyMatches(alg, key) {
				out.Keys = append(out.Keys, key)
			}
		}
		if len(out.Keys) == 0 {
			return nil, fmt.Errorf("no %s key in jwks", alg)
		}
		return out, nil
	}
	if !keyMatches(alg, k) {
		return nil, fmt.Errorf("jwks key of type %T does not fit %s", k, alg)
	}
	return k, nil
}

func keyMatches(alg string, k any) bool {
	switch alg {
	case algRS256:
		rk, ok := k.(*rsa.PublicKey)
		return ok && rk.N.BitLen() >= 2048
	case algES256:
		ek, ok := k.(*ecdsa.PublicKey)
		return ok && ek.Curve == elliptic.P256()
	}
	return false
}
