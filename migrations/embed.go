// Package migrations embeds the schema migrations, one set per engine, applied
// at start-up under a lock (goose).
package migrations

import "embed"

// Postgres holds the PostgreSQL migrations (postgres/*.sql).
//
//go:embed postgres/*.sql
var Postgres embed.FS

// SQLite holds the SQLite migrations (sqlite/*.sql).
//
//go:embed sqlite/*.sql
var SQLite embed.FS
