package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/enkisys/chorus/migrations"
)

// MigrationStatus is the state of one migration.
type MigrationStatus struct {
	Version   int64
	Path      string
	Applied   bool
	AppliedAt time.Time // zero when pending
}

// Migrate applies the pending migrations to the database at url (chorus
// migrate up), as the connecting user.
func Migrate(ctx context.Context, url string, logger *slog.Logger) error {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return fmt.Errorf("postgres: parse url: %w", err)
	}
	return migrateConn(ctx, cfg, logger)
}

// MigrateStatus lists every known migration and whether it is applied
// (chorus migrate status).
func MigrateStatus(ctx context.Context, url string, logger *slog.Logger) ([]MigrationStatus, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse url: %w", err)
	}
	sqlDB := stdlib.OpenDB(*cfg)
	defer sqlDB.Close()
	p, err := newProvider(sqlDB, logger)
	if err != nil {
		return nil, err
	}
	st, err := p.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres: migration status: %w", err)
	}
	out := make([]MigrationStatus, 0, len(st))
	for _, s := range st {
		out = append(out, MigrationStatus{
			Version:   s.Source.Version,
			Path:      s.Source.Path,
			Applied:   s.State == goose.StateApplied,
			AppliedAt: s.AppliedAt,
		})
	}
	return out, nil
}

// migrateConn applies the pending migrations on connections of their own
// made with cfg, as the connecting user (the owner of the tables): never
// through the application pool, whose connections have switched to AppRole.
// The goose session locker holds a PostgreSQL advisory lock for the whole
// run, so a second process waits and then finds nothing to apply.
func migrateConn(ctx context.Context, cfg *pgx.ConnConfig, logger *slog.Logger) error {
	sqlDB := stdlib.OpenDB(*cfg)
	defer sqlDB.Close()
	if err := sqlDB.PingContext(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	p, err := newProvider(sqlDB, logger)
	if err != nil {
		return err
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("postgres: apply migrations: %w", err)
	}
	for _, r := range results {
		logger.InfoContext(ctx, "migration applied", "version", r.Source.Version, "path", r.Source.Path, "duration", r.Duration)
	}
	return nil
}

func newProvider(sqlDB *sql.DB, logger *slog.Logger) (*goose.Provider, error) {
	fsys, err := fs.Sub(migrations.Postgres, "postgres")
	if err != nil {
		return nil, fmt.Errorf("postgres: open migrations: %w", err)
	}
	// Retry the lock every second for up to five minutes.
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
	if err != nil {
		return nil, fmt.Errorf("postgres: create migration locker: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, sqlDB, fsys,
		goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true),
		goose.WithSlog(logger),
	)
	if err != nil {
		return nil, fmt.Errorf("postgres: create migration provider: %w", err)
	}
	return p, nil
}
