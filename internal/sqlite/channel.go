package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/enkisys/chorus/internal/chorus"
)

const channelSelect = `SELECT tenant_id, id, type, name, widget_key, allowed_origins, created_at FROM channels `

func scanChannel(row scanner) (chorus.Channel, error) {
	var c chorus.Channel
	var key sql.NullString
	var origins string
	var created int64
	if err := row.Scan(&c.TenantID, &c.ID, &c.Type, &c.Name, &key, &origins, &created); err != nil {
		return chorus.Channel{}, err
	}
	var err error
	if c.AllowedOrigins, err = parseList(origins); err != nil {
		return chorus.Channel{}, err
	}
	c.WidgetKey = key.String
	c.CreatedAt = fromMicros(created)
	return c, nil
}

// ChannelCreate stores c (ID, WidgetKey and CreatedAt set by the caller). An
// empty WidgetKey is stored as NULL, so channels without a key never clash.
func (db *DB) ChannelCreate(ctx context.Context, tenantID string, c chorus.Channel) (chorus.Channel, error) {
	var key any
	if c.WidgetKey != "" {
		key = c.WidgetKey
	}
	err := db.write(ctx, func(ctx context.Context, tx wtx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO channels (tenant_id, id, type, name, widget_key, allowed_origins, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, tenantID, c.ID, c.Type, c.Name, key, jsonList(c.AllowedOrigins), micros(c.CreatedAt))
		return err
	})
	if err != nil {
		return chorus.Channel{}, errorf(err, "create", "channel")
	}
	c.TenantID = tenantID
	if c.AllowedOrigins == nil {
		c.AllowedOrigins = []string{}
	}
	c.CreatedAt = fromMicros(micros(c.CreatedAt))
	return c, nil
}

// ChannelGet returns the tenant's channel.
func (db *DB) ChannelGet(ctx context.Context, tenantID, id string) (chorus.Channel, error) {
	c, err := scanChannel(db.r.QueryRowContext(ctx, channelSelect+`WHERE tenant_id = ? AND id = ?`, tenantID, id))
	if err != nil {
		return chorus.Channel{}, errorf(err, "get", "channel")
	}
	return c, nil
}

// ChannelList returns the tenant's channels, oldest first.
func (db *DB) ChannelList(ctx context.Context, tenantID string) ([]chorus.Channel, error) {
	rows, err := db.r.QueryContext(ctx, channelSelect+`WHERE tenant_id = ? ORDER BY created_at, id`, tenantID)
	if err != nil {
		return nil, errorf(err, "list", "channels")
	}
	defer rows.Close()
	out := []chorus.Channel{}
	for rows.Next() {
		c, err := scanChannel(rows)
		if err != nil {
			return nil, errorf(err, "list", "channels")
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, errorf(err, "list", "channels")
	}
	return out, nil
}

// ChannelByWidgetKey finds a channel by its public widget key, across tenants.
func (db *DB) ChannelByWidgetKey(ctx context.Context, widgetKey string) (chorus.Channel, error) {
	if widgetKey == "" {
		return chorus.Channel{}, errorf(sql.ErrNoRows, "get", "channel")
	}
	c, err := scanChannel(db.r.QueryRowContext(ctx, channelSelect+`WHERE widget_key = ?`, widgetKey))
	if err != nil {
		return chorus.Channel{}, errorf(err, "get", "channel")
	}
	return c, nil
}

const contactSelect = `SELECT tenant_id, id, name, email, metadata, created_at FROM contacts `

func scanContact(row scanner) (chorus.Contact, error) {
	var c chorus.Contact
	var meta string
	var created int64
	if err := row.Scan(&c.TenantID, &c.ID, &c.Name, &c.Email, &meta, &created); err != nil {
		return chorus.Contact{}, err
	}
	if err := json.Unmarshal([]byte(meta), &c.Metadata); err != nil {
		return chorus.Contact{}, fmt.Errorf("decode metadata: %w", err)
	}
	if len(c.Metadata) == 0 {
		c.Metadata = nil
	}
	c.CreatedAt = fromMicros(created)
	return c, nil
}

// ContactCreate stores c (ID and CreatedAt set by the caller).
func (db *DB) ContactCreate(ctx context.Context, tenantID string, c chorus.Contact) (chorus.Contact, error) {
	meta := []byte("{}")
	if len(c.Metadata) > 0 {
		var err error
		if meta, err = json.Marshal(c.Metadata); err != nil {
			return chorus.Contact{}, fmt.Errorf("sqlite: encode contact metadata: %w", err)
		}
	}
	err := db.write(ctx, func(ctx context.Context, tx wtx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO contacts (tenant_id, id, name, email, metadata, created_at)
			VALUES (?, ?, ?, ?, ?, ?)`, tenantID, c.ID, c.Name, c.Email, string(meta), micros(c.CreatedAt))
		return err
	})
	if err != nil {
		return chorus.Contact{}, errorf(err, "create", "contact")
	}
	c.TenantID = tenantID
	c.CreatedAt = fromMicros(micros(c.CreatedAt))
	return c, nil
}

// ContactGet returns the tenant's contact.
func (db *DB) ContactGet(ctx context.Context, tenantID, id string) (chorus.Contact, error) {
	c, err := scanContact(db.r.QueryRowContext(ctx, contactSelect+`WHERE tenant_id = ? AND id = ?`, tenantID, id))
	if err != nil {
		return chorus.Contact{}, errorf(err, "get", "contact")
	}
	return c, nil
}

// ContactIdentitySet records that the contact holds the identity on the
// channel. Setting it again for the same contact is a no-op; an identity
// held by another contact is ECONFLICT; a contact or channel outside the
// tenant is ENOTFOUND.
func (db *DB) ContactIdentitySet(ctx context.Context, tenantID, contactID, channelID, kind, value string) error {
	err := db.write(ctx, func(ctx context.Context, tx wtx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO contact_identities (tenant_id, contact_id, channel_id, kind, value, created_at)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (tenant_id, channel_id, kind, value) DO NOTHING`,
			tenantID, contactID, channelID, kind, value, micros(now()))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
		var holder string
		if err := tx.QueryRowContext(ctx, `SELECT contact_id FROM contact_identities
			WHERE tenant_id = ? AND channel_id = ? AND kind = ? AND value = ?`,
			tenantID, channelID, kind, value).Scan(&holder); err != nil {
			return err
		}
		if holder != contactID {
			return chorus.Errorf(chorus.ECONFLICT, "This identity belongs to another contact.")
		}
		return nil
	})
	if err != nil {
		return errorf(err, "set", "contact identity")
	}
	return nil
}

// ContactByIdentity finds the contact holding the identity on the channel.
func (db *DB) ContactByIdentity(ctx context.Context, tenantID, channelID, kind, value string) (chorus.Contact, error) {
	c, err := scanContact(db.r.QueryRowContext(ctx, `SELECT c.tenant_id, c.id, c.name, c.email, c.metadata, c.created_at
		FROM contact_identities i JOIN contacts c ON c.tenant_id = i.tenant_id AND c.id = i.contact_id
		WHERE i.tenant_id = ? AND i.channel_id = ? AND i.kind = ? AND i.value = ?`, tenantID, channelID, kind, value))
	if err != nil {
		return chorus.Contact{}, errorf(err, "find", "contact")
	}
	return c, nil
}
