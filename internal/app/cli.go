package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/enkisys/chorus/internal/auth"
	"github.com/enkisys/chorus/internal/chat"
	"github.com/enkisys/chorus/internal/chorus"
	"github.com/enkisys/chorus/internal/logging"
	"github.com/enkisys/chorus/internal/postgres"
	"github.com/enkisys/chorus/internal/sqlite"
)

// GCPercentDefault is the server's GOGC unless the environment sets one.
const GCPercentDefault = 150

// errHelp marks a help request: exit 0.
var errHelp = errors.New("help requested")

// ExitCode maps Main's error to a process exit code.
func ExitCode(err error) int {
	if errors.Is(err, errHelp) || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return 1
}

// Main is the whole command line: `chorus [settings]` runs the server; the
// subcommands token, tenant, migrate and version do one thing and exit.
func Main(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		switch args[0] {
		case "token":
			return cmdToken(args[1:], getenv, stdout, stderr)
		case "tenant":
			return cmdTenant(ctx, args[1:], getenv, stdout, stderr)
		case "migrate":
			return cmdMigrate(ctx, args[1:], getenv, stdout, stderr)
		case "version":
			fmt.Fprintln(stdout, "chorus", Version)
			return nil
		case "help":
			_, err := LoadConfig([]string{"--help"}, getenv, stdout)
			return err
		}
		return fmt.Errorf("unknown command %q (commands: token, tenant, migrate, version; or settings such as --roles; see chorus --help)", args[0])
	}
	cfg, err := LoadConfig(args, getenv, stdout)
	if err != nil {
		return err
	}
	if getenv("GOGC") == "" {
		// Fewer collections. Measured at 2,000 msg/s over 5,000 sockets on two
		// cores (docs/benchmarks.md): 150 gave P99.9 18 ms (27–31 at 100) for
		// 15.9–17.1 KiB per idle connection; 200 gave 18.6–20.0 KiB, over the
		// 20 KiB budget at 10,000 sockets.
		debug.SetGCPercent(GCPercentDefault)
	}
	logger := NewLogger(stderr, cfg)
	a, err := New(cfg, logger, stdout)
	if err != nil {
		return err
	}
	return a.Run(ctx)
}

// NewLogger builds the redacting slog logger of cfg.
func NewLogger(w io.Writer, cfg Config) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	return slog.New(logging.NewHandler(w, level, cfg.LogFormat))
}

// subConfig parses a subcommand's own flags plus the shared storage and
// secret settings (flags or CHORUS_* variables).
func subConfig(name string, args []string, getenv func(string) string, stderr io.Writer, def func(fs *flag.FlagSet)) (Config, *flag.FlagSet, error) {
	fs := flag.NewFlagSet("chorus "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", "", "data directory (env CHORUS_DATA_DIR, default "+DataDirDefault+")")
	dbURL := fs.String("database-url", "", "PostgreSQL URL (env CHORUS_DATABASE_URL)")
	secret := fs.String("jwt-secret", "", "HS256 secret (env CHORUS_JWT_SECRET; default: the data dir's)")
	if def != nil {
		def(fs)
	}
	if err := fs.Parse(args); err != nil {
		return Config{}, fs, err
	}
	cfg := Config{
		DataDir:     firstNonEmpty(*dataDir, getenv(EnvName("data-dir")), DataDirDefault),
		DatabaseURL: firstNonEmpty(*dbURL, getenv(EnvName("database-url"))),
		JWTSecret:   firstNonEmpty(*secret, getenv(EnvName("jwt-secret"))),
		LogLevel:    "warn", LogFormat: "text",
	}
	return cfg, fs, nil
}

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

func cmdToken(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var tenant, sub, roles, conv, name, email *string
	var ttl *time.Duration
	cfg, _, err := subConfig("token", args, getenv, stderr, func(fs *flag.FlagSet) {
		tenant = fs.String("tenant", "", "tenant id (required)")
		sub = fs.String("sub", "", "subject: the user id (required)")
		roles = fs.String("roles", "agent", "comma-separated roles: admin, supervisor, agent, visitor")
		conv = fs.String("conversation", "", "conversation id (visitor tokens)")
		name = fs.String("name", "", "optional name claim")
		email = fs.String("email", "", "optional email claim")
		ttl = fs.Duration("ttl", time.Hour, "lifetime, at most 6h")
	})
	if err != nil {
		return err
	}
	if *tenant == "" || *sub == "" {
		return errors.New("token: --tenant and --sub are required")
	}
	secret := []byte(cfg.JWTSecret)
	if len(secret) == 0 {
		secret, err = auth.LoadOrCreateSecret(filepath.Join(cfg.DataDir, "jwt-secret"))
		if err != nil {
			return fmt.Errorf("token: read the data dir's secret: %w", err)
		}
	}
	tok, exp, err := auth.Issue(secret, auth.Claims{
		Subject: *sub, TenantID: *tenant, Roles: strings.Split(*roles, ","), ConversationID: *conv, Name: *name, Email: *email,
	}, *ttl)
	if err != nil {
		return fmt.Errorf("token: %w", err)
	}
	fmt.Fprintln(stdout, tok)
	fmt.Fprintf(stderr, "expires %s\n", exp.UTC().Format(time.RFC3339))
	return nil
}

// openStore opens the configured store (applying migrations).
func openStore(ctx context.Context, cfg Config, logger *slog.Logger) (chorus.Store, error) {
	if cfg.DatabaseURL != "" {
		return postgres.Open(ctx, cfg.DatabaseURL, logger)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, err
	}
	return sqlite.Open(ctx, filepath.Join(cfg.DataDir, "chorus.db"), logger)
}

func cmdTenant(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) < 2 || args[0] != "create" {
		return errors.New("usage: chorus tenant create NAME --admin-email E [--id ID]")
	}
	tenantName := args[1]
	var email, id *string
	cfg, _, err := subConfig("tenant create", args[2:], getenv, stderr, func(fs *flag.FlagSet) {
		email = fs.String("admin-email", "", "e-mail of the first admin (required)")
		id = fs.String("id", "", "tenant id (default: derived from NAME)")
	})
	if err != nil {
		return err
	}
	if *email == "" {
		return errors.New("tenant create: --admin-email is required")
	}
	if err := chat.ValidEmail(*email); err != nil {
		return fmt.Errorf("tenant create: --admin-email: %w", err)
	}
	tid := *id
	if tid == "" {
		tid = slug(tenantName)
	}
	logger := NewLogger(stderr, cfg)
	store, err := openStore(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer store.Close()
	admin, password, err := CreateTenant(ctx, store, tid, tenantName, *email)
	if err != nil {
		return fmt.Errorf("tenant create: %w", err)
	}
	fmt.Fprintf(stdout, "tenant    %s\nadmin     %s (id %s)\npassword  %s   (shown once)\n", tid, admin.Email, admin.ID, password)
	return nil
}

func slug(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
			dash = false
		case !dash && b.Len() > 0:
			b.WriteByte('-')
			dash = true
		}
	}
	out := strings.Trim(b.String(), "-")
	if len(out) > 64 {
		out = out[:64]
	}
	return out
}

func cmdMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) < 1 || (args[0] != "up" && args[0] != "status") {
		return errors.New("usage: chorus migrate up|status [--database-url URL | --data-dir DIR]")
	}
	cfg, _, err := subConfig("migrate", args[1:], getenv, stderr, nil)
	if err != nil {
		return err
	}
	logger := NewLogger(stderr, cfg)
	type status struct {
		Version int64
		Applied bool
		Source  string
	}
	var rows []status
	if cfg.DatabaseURL != "" {
		if args[0] == "up" {
			if err := postgres.Migrate(ctx, cfg.DatabaseURL, logger); err != nil {
				return err
			}
		}
		st, err := postgres.MigrateStatus(ctx, cfg.DatabaseURL, logger)
		if err != nil {
			return err
		}
		for _, s := range st {
			rows = append(rows, status{s.Version, s.Applied, s.Path})
		}
	} else {
		// Opening the SQLite store applies its migrations.
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return err
		}
		db, err := sqlite.Open(ctx, filepath.Join(cfg.DataDir, "chorus.db"), logger)
		if err != nil {
			return err
		}
		defer db.Close()
		st, err := db.MigrateStatus(ctx)
		if err != nil {
			return err
		}
		for _, s := range st {
			rows = append(rows, status{s.Version, s.Applied, s.Path})
		}
	}
	for _, r := range rows {
		state := "pending"
		if r.Applied {
			state = "applied"
		}
		fmt.Fprintf(stdout, "%05d  %-8s %s\n", r.Version, state, r.Source)
	}
	return nil
}
