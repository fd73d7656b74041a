package auth_test

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/enkisys/chorus/internal/auth"
)

func TestGenerateSecret(t *testing.T) {
	t.Parallel()
	a, err := auth.GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := auth.GenerateSecret()
	if len(a) != 32 || bytes.Equal(a, b) {
		t.Fatalf("secrets %x / %x: want 32 random bytes", a, b)
	}
}

func TestLoadOrCreateSecret(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "data", "jwt-secret")
	s1, err := auth.LoadOrCreateSecret(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(s1) != 32 {
		t.Fatalf("len = %d", len(s1))
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode = %o, want 600", st.Mode().Perm())
	}
	raw, _ := os.ReadFile(path)
	if strings.TrimSpace(string(raw)) != hex.EncodeToString(s1) {
		t.Fatalf("file %q does not hold the hex secret", raw)
	}
	dst, _ := os.Stat(filepath.Dir(path))
	if dst.Mode().Perm() != 0o700 {
		t.Fatalf("dir mode = %o, want 700", dst.Mode().Perm())
	}
	s2, err := auth.LoadOrCreateSecret(path)
	if err != nil || !bytes.Equal(s1, s2) {
		t.Fatalf("second load: %x, %v; want the same secret", s2, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("temp files left behind: %v", entries)
	}
}

func TestLoadOrCreateSecretConcurrent(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "jwt-secret")
	const n = 8
	got := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { got[i], errs[i] = auth.LoadOrCreateSecret(path) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || !bytes.Equal(got[i], got[0]) {
			t.Fatalf("caller %d: %x, %v; want %x", i, got[i], errs[i], got[0])
		}
	}
}

func TestLoadOrCreateSecretRefuses(t *testing.T) {
	t.Parallel()
	good := strings.Repeat("ab", 32) + "\n"
	tests := []struct {
		name    string
		content string
		mode    os.FileMode
		wantErr string
	}{
		{"GroupReadable", good, 0o640, "chmod 600"},
		{"WorldReadable", good, 0o644, "chmod 600"},
		{"NotHex", "zz-not-hex", 0o600, "hex"},
		{"TooShort", "abcd", 0o600, "at least 16"},
		{"Empty", "", 0o600, "load secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "jwt-secret")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			s, err := auth.LoadOrCreateSecret(path)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("LoadOrCreateSecret = %x, %v; want error containing %q", s, err, tt.wantErr)
			}
			if strings.Contains(err.Error(), strings.TrimSpace(good)) {
				t.Fatal("error text contains the secret")
			}
		})
	}
	t.Run("Directory", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		if _, err := auth.LoadOrCreateSecret(dir); err == nil {
			t.Fatal("a directory was accepted as the secret file")
		}
	})
	t.Run("Valid", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "jwt-secret")
		_ = os.WriteFile(path, []byte(good), 0o600)
		s, err := auth.LoadOrCreateSecret(path)
		if err != nil || hex.EncodeToString(s) != strings.TrimSpace(good) {
			t.Fatalf("%x, %v", s, err)
		}
	})
}
