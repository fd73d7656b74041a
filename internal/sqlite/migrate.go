package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"log/slog"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/enkisys/chorus/migrations"
)

// MigrationStatus is the state of one migration (chorus migrate status).
type MigrationStatus struct {
	Version   int64
	Path      string
	Applied   bool
	AppliedAt time.Time // zero when pending
}

// newProvider returns a goose provider of the embedded SQLite migrations on sqlDB.
func newProvider(sqlDB *sql.DB, logger *slog.Logger) (*goose.Provider, error) {
	fsys, err := fs.Sub(migrations.SQLite, "sqlite")
	if err != nil {
		return nil, fmt.Errorf("sqlite: open migrations: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, sqlDB, fsys,
		goose.WithDisableGlobalRegistry(true), goose.WithSlog(logger))
	if err != nil {
		return nil, fmt.Errorf("sqlite: migration provider: %w", err)
	}
	return p, nil
}

// withMigrationDB runs fn on a short-lived single-connection handle of path,
// separate from the DB's pools (goose runs its own transactions).
func withMigrationDB(path string, fn func(*sql.DB) error) error {
	sqlDB, err := sql.Open("sqlite", dsn(path, writeDSN))
	if err != nil {
		return fmt.Errorf("sqlite: open for migrations: %w", err)
	}
	sqlDB.SetMaxOpenConns(1)
	err = fn(sqlDB)
	if cerr := sqlDB.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("sqlite: close after migrations: %w", cerr)
	}
	return err
}

// migrateUp applies the pending migrations to the database at path.
func migrateUp(ctx context.Context, path string, logger *slog.Logger) error {
	return withMigrationDB(path, func(sqlDB *sql.DB) error {
		p, err := newProvider(sqlDB, logger)
		if err != nil {
			return err
		}
		res, err := p.Up(ctx)
		if err != nil {
			return fmt.Errorf("sqlite: migrate: %w", err)
		}
		for _, r := range res {
			logger.InfoContext(ctx, "migration applied", "version", r.Source.Version, "path", r.Source.Path, "took", r.Duration)
		}
		return nil
	})
}

// MigrateStatus lists every known migration and whether it is applied.
func (db *DB) MigrateStatus(ctx context.Context) ([]MigrationStatus, error) {
	var out []MigrationStatus
	err := withMigrationDB(db.path, func(sqlDB *sql.DB) error {
		p, err := newProvider(sqlDB, db.logger)
		if err != nil {
			return err
		}
		st, err := p.Status(ctx)
		if err != nil {
			return fmt.Errorf("sqlite: migration status: %w", err)
		}
		for _, s := range st {
			out = append(out, MigrationStatus{
				Version:   s.Source.Version,
				Path:      s.Source.Path,
				Applied:   s.State == goose.StateApplied,
				AppliedAt: s.AppliedAt,
			})
		}
		return nil
	})
	return out, err
}
