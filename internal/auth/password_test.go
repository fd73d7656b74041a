package auth_test

import (
	"strings"
	"testing"

	"github.com/enkisys/chorus/internal/auth"
	"github.com/enkisys/chorus/internal/chorus"
	"golang.org/x/crypto/bcrypt"
)

func TestHashPasswordRoundTrip(t *testing.T) {
	t.Parallel()
	for _, pw := range []string{"correct horse battery staple", "pässwörd-ünïcode", strings.Repeat("x", 256)} {
		h, err := auth.HashPassword(pw)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") || strings.Count(h, "$") != 5 {
			t.Fatalf("hash %q is not PHC argon2id with the expected parameters", h)
		}
		if !auth.CheckPassword(h, pw) {
			t.Fatalf("CheckPassword(%q) = false for the right password", pw)
		}
		if auth.CheckPassword(h, pw+"x") || auth.CheckPassword(h, "") {
			t.Fatal("CheckPassword accepted a wrong password")
		}
		h2, _ := auth.HashPassword(pw)
		if h2 == h {
			t.Fatal("two hashes of one password are equal: salt not random")
		}
	}
}

func TestCheckPasswordBcrypt(t *testing.T) {
	t.Parallel()
	h, err := bcrypt.GenerateFromPassword([]byte("hunter2hunter2"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	for _, prefix := range []string{"$2a$", "$2b$", "$2y$"} {
		hh := prefix + string(h[4:])
		if !auth.CheckPassword(hh, "hunter2hunter2") {
			t.Fatalf("%s: right password refused", prefix)
		}
		if auth.CheckPassword(hh, "hunter3hunter3") {
			t.Fatalf("%s: wrong password accepted", prefix)
		}
	}
}

func TestCheckPasswordRefusesBadHashes(t *testing.T) {
	t.Parallel()
	good, _ := auth.HashPassword("password123")
	parts := strings.Split(good, "$")
	for name, h := range map[string]string{
		"Empty":           "",
		"Plaintext":       "password123",
		"UnknownScheme":   "$md5$abc",
		"TooFewParts":     "$argon2id$v=19$m=19456,t=2,p=1$" + parts[4],
		"BadVersion":      "$argon2id$v=16$" + strings.Join(parts[3:], "$"),
		"BadParams":       "$argon2id$v=19$m=x,t=2,p=1$" + parts[4] + "$" + parts[5],
		"HugeMemory":      "$argon2id$v=19$m=4294967295,t=2,p=1$" + parts[4] + "$" + parts[5],
		"HugeTime":        "$argon2id$v=19$m=19456,t=100000,p=1$" + parts[4] + "$" + parts[5],
		"ZeroThreads":     "$argon2id$v=19$m=19456,t=2,p=0$" + parts[4] + "$" + parts[5],
		"BadSalt":         "$argon2id$v=19$m=19456,t=2,p=1$!!!$" + parts[5],
		"ShortKey":        "$argon2id$v=19$m=19456,t=2,p=1$" + parts[4] + "$AAAA",
		"Argon2iNotID":    "$argon2i$" + strings.Join(parts[2:], "$"),
		"TruncatedBcrypt": "$2b$10$abc",
	} {
		if auth.CheckPassword(h, "password123") {
			t.Errorf("%s: hash %q accepted", name, h)
		}
	}
}

func TestValidatePassword(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		pw string
		ok bool
	}{
		{"", false}, {"1234567", false}, {"12345678", true}, {"ééééééé", false}, {"éééééééé", true},
		{strings.Repeat("a", 256), true}, {strings.Repeat("a", 257), false}, {"abcdefg\xff", false},
	} {
		err := auth.ValidatePassword(tt.pw)
		if (err == nil) != tt.ok {
			t.Errorf("ValidatePassword(%q) = %v, want ok=%v", tt.pw, err, tt.ok)
		}
		if err != nil && chorus.ErrorCode(err) != chorus.EINVALID {
			t.Errorf("ValidatePassword(%q) code = %s", tt.pw, chorus.ErrorCode(err))
		}
	}
}

// BenchmarkCheckPassword shows that an unknown user (empty hash) costs the
// same work as a real account.
func BenchmarkCheckPassword(b *testing.B) {
	h, _ := auth.HashPassword("password123")
	b.Run("Known", func(b *testing.B) {
		for b.Loop() {
			auth.CheckPassword(h, "wrong-password")
		}
	})
	b.Run("UnknownUser", func(b *testing.B) {
		auth.CheckPassword("", "warm-up") // the dummy hash is built once
		for b.Loop() {
			auth.CheckPassword("", "wrong-password")
		}
	})
}
