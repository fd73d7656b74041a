package postgres

import (
	"context"
	"encoding/json"

	"github.com/enkisys/chorus/internal/chorus"
	"github.com/enkisys/chorus/internal/postgres/internal/dbsqlc"
)

// SettingGet returns the tenant's settings document for name.
func (db *DB) SettingGet(ctx context.Context, tenantID, name string) ([]byte, error) {
	v, err := db.q.SettingGet(ctx, db.tenant(tenantID), dbsqlc.SettingGetParams{TenantID: tenantID, Name: name})
	if err != nil {
		return nil, translate(err, "get", "setting")
	}
	return v, nil
}

// SettingPut replaces the tenant's settings document for name.
func (db *DB) SettingPut(ctx context.Context, tenantID, name string, value []byte) error {
	var m map[string]json.RawMessage
	if json.Unmarshal(value, &m) != nil || m == nil {
		return chorus.Errorf(chorus.EINVALID, "setting %s: must be a JSON object.", name)
	}
	return translate(db.q.SettingPut(ctx, db.tenant(tenantID), dbsqlc.SettingPutParams{
		TenantID: tenantID, Name: name, Value: value,
	}), "put", "setting")
}
