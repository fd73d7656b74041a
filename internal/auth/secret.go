package auth

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// SecretBytes is the length of a generated secret.
const SecretBytes = 32

// GenerateSecret returns SecretBytes random bytes.
func GenerateSecret() ([]byte, error) {
	b := make([]byte, SecretBytes)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("auth: generate secret: %w", err)
	}
	return b, nil
}

// LoadOrCreateSecret returns the secret kept hex-encoded in the file at path,
// creating it (and its directory, mode 0700) with a fresh GenerateSecret and
// mode 0600 when it does not exist. Creation is atomic: concurrent callers
// all end up with the same secret.
//
// An existing file that is readable or writable by group or others is
// refused (an error naming the fix, chmod 600), as is a file holding fewer
// than 16 bytes of secret: a leaked or weak secret lets anyone mint tokens.
func LoadOrCreateSecret(path string) ([]byte, error) {
	if b, err := loadSecret(path); !errors.Is(err, fs.ErrNotExist) {
		return b, err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("auth: create secret: %w", err)
	}
	secret, err := GenerateSecret()
	if err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(dir, ".secret-*")
	if err != nil {
		return nil, fmt.Errorf("auth: create secret: %w", err)
	}
	defer os.Remove(tmp.Name())
	// CreateTemp uses 0600; Chmod guards against an odd umask-free platform.
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("auth: create secret: %w", err)
	}
	if _, err := tmp.WriteString(hex.EncodeToString(secret) + "\n"); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("auth: create secret: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("auth: create secret: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("auth: create secret: %w", err)
	}
	// Link fails if path appeared meanwhile: then the other writer won.
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return loadSecret(path)
		}
		return nil, fmt.Errorf("auth: create secret: %w", err)
	}
	return secret, nil
}

func loadSecret(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("auth: load secret: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("auth: load secret: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("auth: load secret: %s is not a regular file", path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("auth: load secret: %s has mode %04o, accessible to group or others; run chmod 600 on it", path, perm)
	}
	raw := make([]byte, 4096)
	n, err := f.Read(raw)
	if err != nil {
		return nil, fmt.Errorf("auth: load secret: %w", err)
	}
	b, err := hex.DecodeString(string(bytes.TrimSpace(raw[:n])))
	if err != nil {
		return nil, fmt.Errorf("auth: load secret: %s does not hold hex: %w", path, err)
	}
	if len(b) < 16 {
		return nil, fmt.Errorf("auth: load secret: %s holds %d bytes, at least 16 needed", path, len(b))
	}
	return b, nil
}
