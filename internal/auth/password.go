package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/enkisys/chorus/internal/chorus"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// argon2id parameters for new hashes (OWASP's first recommended set, sized
// for a small server: 19 MiB, 2 passes, 1 lane; about 20-40 ms per hash).
const (
	argonMemoryKiB = 19456
	argonTime      = 2
	argonThreads   = 1
	argonSaltLen   = 16
	argonKeyLen    = 32

	// Bounds on parameters read from a stored hash, so a corrupted or
	// hostile hash cannot make a login allocate gigabytes or spin.
	argonMaxMemoryKiB = 1 << 20 // 1 GiB
	argonMaxTime      = 16
	argonMaxThreads   = 16
)

// Password policy.
const (
	PasswordMinChars = 8
	PasswordMaxChars = 256
)

// ValidatePassword applies the password policy: 8 to 256 characters
// (Unicode code points) of valid UTF-8. The error is an EINVALID *chorus.Error.
func ValidatePassword(pw string) error {
	if !utf8.ValidString(pw) {
		return chorus.Errorf(chorus.EINVALID, "password: must be valid UTF-8.")
	}
	n := utf8.RuneCountInString(pw)
	if n < PasswordMinChars || n > PasswordMaxChars {
		return chorus.Errorf(chorus.EINVALID, "password: must be %d to %d characters long.", PasswordMinChars, PasswordMaxChars)
	}
	return nil
}

var b64 = base64.RawStdEncoding

// HashPassword hashes pw with argon2id and a random salt, in the PHC string
// format $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>.
func HashPassword(pw string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("auth: hash password: %w", err)
	}
	key := argon2.IDKey([]byte(pw), salt, argonTime, argonMemoryKiB, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemoryKiB, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// dummyHash is checked when there is no hash (unknown user), so the answer
// takes as long as for a real account.
var dummyHash = sync.OnceValue(func() string {
	h, err := HashPassword("chorus-dummy-password-for-timing")
	if err != nil {
		panic(err) // crypto/rand failing is fatal anyway
	}
	return h
})

// CheckPassword reports whether pw matches hash, an argon2id (PHC) or bcrypt
// ($2a$/$2b$/$2y$) hash. The comparison is constant-time. With an empty or
// unparsable hash (unknown user, corrupted row) it still does the work of a
// real check against a fixed dummy hash and returns false, so timing does not
// reveal whether an account exists.
func CheckPassword(hash, pw string) bool {
	switch {
	case strings.HasPrefix(hash, "$argon2id$"):
		if ok, err := checkArgon2id(hash, pw); err == nil {
			return ok
		}
	case strings.HasPrefix(hash, "$2a$"), strings.HasPrefix(hash, "$2b$"), strings.HasPrefix(hash, "$2y$"):
		return bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw)) == nil
	}
	_, _ = checkArgon2id(dummyHash(), pw)
	return false
}

// checkArgon2id compares pw with a PHC argon2id hash; the error reports a
// malformed hash.
func checkArgon2id(hash, pw string) (bool, error) {
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, key
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errors.New("auth: check password: malformed argon2id hash")
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errors.New("auth: check password: unsupported argon2 version")
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false, fmt.Errorf("auth: check password: parse parameters: %w", err)
	}
	if m == 0 || m > argonMaxMemoryKiB || t == 0 || t > argonMaxTime || p == 0 || p > argonMaxThreads || m < 8*uint32(p) {
		return false, errors.New("auth: check password: argon2 parameters out of range")
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return false, errors.New("auth: check password: bad salt")
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) < 16 || len(want) > 128 {
		return false, errors.New("auth: check password: bad key")
	}
	got := argon2.IDKey([]byte(pw), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}
