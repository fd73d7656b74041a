package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/enkisys/chorus/internal/chorus"
	"github.com/enkisys/chorus/internal/postgres/internal/dbsqlc"
)

// ChannelCreate stores c (ids and timestamps set by the caller).
func (db *DB) ChannelCreate(ctx context.Context, tenantID string, c chorus.Channel) (chorus.Channel, error) {
	r, err := db.q.ChannelCreate(ctx, db.tenant(tenantID), dbsqlc.ChannelCreateParams{
		TenantID:       tenantID,
		ID:             c.ID,
		Type:           c.Type,
		Name:           c.Name,
		WidgetKey:      c.WidgetKey,
		AllowedOrigins: orEmpty(c.AllowedOrigins),
		CreatedAt:      c.CreatedAt,
	})
	if err != nil {
		return chorus.Channel{}, translate(err, "create", "channel")
	}
	return toChannel(r), nil
}

// ChannelGet returns the channel.
func (db *DB) ChannelGet(ctx context.Context, tenantID, id string) (chorus.Channel, error) {
	r, err := db.q.ChannelGet(ctx, db.tenant(tenantID), dbsqlc.ChannelGetParams{TenantID: tenantID, ID: id})
	if err != nil {
		return chorus.Channel{}, translate(err, "get", "channel")
	}
	return toChannel(r), nil
}

// ChannelList returns the tenant's channels, oldest first.
func (db *DB) ChannelList(ctx context.Context, tenantID string) ([]chorus.Channel, error) {
	rows, err := db.q.ChannelList(ctx, db.tenant(tenantID), tenantID)
	if err != nil {
		return nil, translate(err, "list", "channels")
	}
	out := make([]chorus.Channel, 0, len(rows))
	for _, r := range rows {
		out = append(out, toChannel(r))
	}
	return out, nil
}

// ChannelByWidgetKey finds a channel by its public widget key, across
// tenants: the caller does not know the tenant yet. The transaction sets
// chorus.widget_key instead of a tenant, which row-level security answers
// with the channel holding that key and nothing else.
func (db *DB) ChannelByWidgetKey(ctx context.Context, widgetKey string) (chorus.Channel, error) {
	if widgetKey == "" {
		return chorus.Channel{}, chorus.Errorf(chorus.ENOTFOUND, "channel not found.")
	}
	r, err := db.q.ChannelByWidgetKey(ctx, scope{pool: db.pool, name: settingWidgetKey, value: widgetKey}, widgetKey)
	if err != nil {
		return chorus.Channel{}, translate(err, "get", "channel")
	}
	return toChannel(r), nil
}

func toChannel(r *dbsqlc.Channel) chorus.Channel {
	c := chorus.Channel{
		ID:             r.ID,
		TenantID:       r.TenantID,
		Type:           r.Type,
		Name:           r.Name,
		AllowedOrigins: orEmpty(r.AllowedOrigins),
		CreatedAt:      r.CreatedAt,
	}
	if r.WidgetKey != nil {
		c.WidgetKey = *r.WidgetKey
	}
	return c
}

// ContactCreate stores c.
func (db *DB) ContactCreate(ctx context.Context, tenantID string, c chorus.Contact) (chorus.Contact, error) {
	meta := []byte("{}")
	if len(c.Metadata) > 0 {
		var err error
		if meta, err = json.Marshal(c.Metadata); err != nil {
			return chorus.Contact{}, fmt.Errorf("postgres: encode contact metadata: %w", err)
		}
	}
	r, err := db.q.ContactCreate(ctx, db.tenant(tenantID), dbsqlc.ContactCreateParams{
		TenantID:  tenantID,
		ID:        c.ID,
		Name:      c.Name,
		Email:     c.Email,
		Metadata:  meta,
		CreatedAt: c.CreatedAt,
	})
	if err != nil {
		return chorus.Contact{}, translate(err, "create", "contact")
	}
	return toContact(r)
}

// ContactGet returns the contact.
func (db *DB) ContactGet(ctx context.Context, tenantID, id string) (chorus.Contact, error) {
	r, err := db.q.ContactGet(ctx, db.tenant(tenantID), dbsqlc.ContactGetParams{TenantID: tenantID, ID: id})
	if err != nil {
		return chorus.Contact{}, translate(err, "get", "contact")
	}
	return toContact(r)
}

// ContactIdentitySet records that the contact holds the identity on the
// channel. Setting it again for the same contact is a no-op; an identity held
// by another contact is ECONFLICT.
func (db *DB) ContactIdentitySet(ctx context.Context, tenantID, contactID, channelID, kind, value string) error {
	n, err := db.q.ContactIdentitySet(ctx, db.tenant(tenantID), dbsqlc.ContactIdentitySetParams{
		TenantID: tenantID, ContactID: contactID, ChannelID: channelID, Kind: kind, Value: value,
	})
	if err != nil {
		return translate(err, "set", "contact identity")
	}
	if n == 0 {
		return chorus.Errorf(chorus.ECONFLICT, "contact identity already exists.")
	}
	return nil
}

// ContactByIdentity finds the contact holding the identity on the channel.
func (db *DB) ContactByIdentity(ctx context.Context, tenantID, channelID, kind, value string) (chorus.Contact, error) {
	r, err := db.q.ContactByIdentity(ctx, db.tenant(tenantID), dbsqlc.ContactByIdentityParams{
		TenantID: tenantID, ChannelID: channelID, Kind: kind, Value: value,
	})
	if err != nil {
		return chorus.Contact{}, translate(err, "get", "contact")
	}
	return toContact(r)
}

func toContact(r *dbsqlc.Contact) (chorus.Contact, error) {
	c := chorus.Contact{ID: r.ID, TenantID: r.TenantID, Name: r.Name, Email: r.Email, CreatedAt: r.CreatedAt}
	var meta map[string]string
	if err := json.Unmarshal(r.Metadata, &meta); err != nil {
		return chorus.Contact{}, fmt.Errorf("postgres: decode contact metadata: %w", err)
	}
	if len(meta) > 0 {
		c.Metadata = meta
	}
	return c, nil
}
