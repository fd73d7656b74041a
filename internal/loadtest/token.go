package loadtest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"
)

// MaxTokenTTL is the longest token lifetime the server accepts.
const MaxTokenTTL = 6 * time.Hour

// Claims are the JWT claims of PROTOCOL.md that the tool mints.
type Claims struct {
	Sub      string   `json:"sub"`
	TenantID string   `json:"tenant_id"`
	Roles    []string `json:"roles"`
	Name     string   `json:"name,omitempty"`
	IAT      int64    `json:"iat"`
	EXP      int64    `json:"exp"`
}

// MintToken signs claims with HS256, as the host platform would. It is done
// with the standard library: the tool needs signing only, and golang-jwt
// belongs to internal/auth.
func MintToken(secret []byte, c Claims) (string, error) {
	if len(secret) == 0 {
		return "", fmt.Errorf("loadtest: mint token: empty secret")
	}
	if c.EXP-c.IAT > int64(MaxTokenTTL/time.Second) || c.EXP <= c.IAT {
		return "", fmt.Errorf("loadtest: mint token: lifetime must be in (0, 6h]")
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("loadtest: mint token: %w", err)
	}
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc.EncodeToString(payload)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(signing))
	return signing + "." + enc.EncodeToString(mac.Sum(nil)), nil
}

// tokenTenant reads the tenant_id claim of a JWT without verifying it (the
// server verifies; the tool only needs the value for X-Tenant-ID).
func tokenTenant(token string) string { return tokenClaim(token, "tenant_id") }
