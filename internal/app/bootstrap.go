package app

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"

	"github.com/enkisys/chorus/internal/auth"
	"github.com/enkisys/chorus/internal/chorus"
)

// DemoInfo is what the first run creates and every run prints.
type DemoInfo struct {
	TenantID      string `json:"tenant_id"`
	AdminEmail    string `json:"admin_email"`
	WidgetKey     string `json:"widget_key"`
	ChannelID     string `json:"channel_id"`
	AdminPassword string `json:"-"` // only on the run that created it
}

// Demo tenant defaults.
const (
	DemoTenantID   = "demo"
	DemoAdminEmail = "admin@demo.local"
)

// bootstrapDemo creates, on the first run with an empty data dir, a demo
// tenant, an admin with a one-time password and a web-widget channel, and
// records them in bootstrap.json (without the password); later runs read it.
func bootstrapDemo(ctx context.Context, store chorus.Store, cfg Config, logger *slog.Logger) (*DemoInfo, error) {
	path := filepath.Join(cfg.DataDir, "bootstrap.json")
	if b, err := os.ReadFile(path); err == nil {
		var info DemoInfo
		if err := json.Unmarshal(b, &info); err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		return &info, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	admin, password, err := CreateTenant(ctx, store, DemoTenantID, "Demo", DemoAdminEmail)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	ch, err := store.ChannelCreate(ctx, DemoTenantID, chorus.Channel{
		ID: uuid.Must(uuid.NewV7()).String(), TenantID: DemoTenantID, Type: chorus.ChannelWebWidget,
		Name: "Demo website", WidgetKey: "wk_demo_" + randomToken(12), AllowedOrigins: demoOrigins(cfg), CreatedAt: now,
	})
	if err != nil {
		return nil, err
	}
	info := &DemoInfo{TenantID: DemoTenantID, AdminEmail: admin.Email, WidgetKey: ch.WidgetKey, ChannelID: ch.ID}
	b, _ := json.MarshalIndent(info, "", "  ")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, err
	}
	info.AdminPassword = password
	logger.Info("demo tenant created", "tenant_id", DemoTenantID)
	return info, nil
}

// CreateTenant creates (or reuses) a tenant and its first admin with a new
// one-time password, which it returns. An existing admin with that e-mail gets
// the new password.
func CreateTenant(ctx context.Context, store chorus.Store, id, name, adminEmail string) (chorus.Agent, string, error) {
	if !chorus.ValidTenantID(id) {
		return chorus.Agent{}, "", fmt.Errorf("tenant id %q: use 1 to 64 letters, digits, - or _", id)
	}
	if _, err := store.TenantEnsure(ctx, id, name); err != nil {
		return chorus.Agent{}, "", err
	}
	password := randomPassword()
	hash, err := auth.HashPassword(password)
	if err != nil {
		return chorus.Agent{}, "", err
	}
	admin, err := store.AgentCreate(ctx, id, chorus.Agent{
		ID: uuid.Must(uuid.NewV7()).String(), TenantID: id, Name: "Admin", Email: adminEmail,
		Roles: []string{chorus.RoleAdmin, chorus.RoleSupervisor, chorus.RoleAgent}, Status: chorus.AgentOffline,
		Capacity: chorus.CapacityDefault, CreatedAt: time.Now().UTC(),
	}, hash)
	if chorus.ErrorCode(err) == chorus.ECONFLICT {
		existing, _, gerr := store.AgentCredentials(ctx, id, adminEmail)
		if gerr != nil {
			return chorus.Agent{}, "", gerr
		}
		if err := store.AgentSetPassword(ctx, id, existing.ID, hash); err != nil {
			return chorus.Agent{}, "", err
		}
		return existing, password, nil
	}
	if err != nil {
		return chorus.Agent{}, "", err
	}
	return admin, password, nil
}

// demoOrigins allows the demo page as served by this process, by name and
// by loopback address.
func demoOrigins(cfg Config) []string {
	out := []string{cfg.URL()}
	_, port, _ := net.SplitHostPort(cfg.HTTPAddr)
	for _, h := range []string{"localhost", "127.0.0.1"} {
		o := "http://" + net.JoinHostPort(h, port)
		if o != out[0] {
			out = append(out, o)
		}
	}
	return out
}

func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func randomPassword() string { return randomToken(12) }
