package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Claims are the Chorus claims of an issued token.
type Claims struct {
	Subject  string
	TenantID string
	Roles    []string
	// ConversationID is required when the only role is visitor.
	ConversationID string
	Name           string
	Email          string
}

// Issue signs an HS256 token for c with secret, valid from now for ttl
// (0 < ttl <= MaxTTLDefault). It returns the token and its expiry. The claims
// are checked with the same rules Verify applies, so Issue never produces a
// token that Verify would refuse for its content.
func Issue(secret []byte, c Claims, ttl time.Duration) (string, time.Time, error) {
	if len(secret) == 0 {
		return "", time.Time{}, errors.New("auth: issue token: empty secret")
	}
	if ttl <= 0 || ttl > MaxTTLDefault {
		return "", time.Time{}, fmt.Errorf("auth: issue token: ttl %s outside (0, %s]", ttl, MaxTTLDefault)
	}
	now := time.Now().Truncate(time.Second)
	exp := now.Add(ttl)
	tc := tokenClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   c.Subject,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(exp),
		},
		TenantID:       c.TenantID,
		Roles:          c.Roles,
		ConversationID: c.ConversationID,
		Name:           c.Name,
		Email:          c.Email,
	}
	if _, err := principalOf(tc); err != nil {
		return "", time.Time{}, fmt.Errorf("auth: issue token: %w", err)
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, tc).SignedString(secret)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("auth: issue token: %w", err)
	}
	return s, exp, nil
}
