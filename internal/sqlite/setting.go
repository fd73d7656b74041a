package sqlite

import (
	"context"
	"encoding/json"

	"github.com/enkisys/chorus/internal/chorus"
)

// SettingGet returns the tenant's settings document for name.
func (db *DB) SettingGet(ctx context.Context, tenantID, name string) ([]byte, error) {
	var v string
	err := db.r.QueryRowContext(ctx, `SELECT value FROM tenant_settings WHERE tenant_id = ? AND name = ?`,
		tenantID, name).Scan(&v)
	if err != nil {
		return nil, errorf(err, "get", "setting")
	}
	return []byte(v), nil
}

// SettingPut replaces the tenant's settings document for name.
func (db *DB) SettingPut(ctx context.Context, tenantID, name string, value []byte) error {
	if !isJSONObject(value) {
		return chorus.Errorf(chorus.EINVALID, "setting %s: must be a JSON object.", name)
	}
	err := db.write(ctx, func(ctx context.Context, tx wtx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO tenant_settings (tenant_id, name, value, updated_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (tenant_id, name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
			tenantID, name, string(value), micros(now()))
		return err
	})
	if err != nil {
		return errorf(err, "put", "setting")
	}
	return nil
}

func isJSONObject(b []byte) bool {
	var m map[string]json.RawMessage
	return json.Unmarshal(b, &m) == nil && m != nil
}
