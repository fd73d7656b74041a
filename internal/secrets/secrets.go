// Package secrets resolves settings given as references to AWS Systems
// Manager Parameter Store, such as --jwt-secret=ssm:///chorus/prod/jwt-secret.
//
// Resolution happens once, at start, through the AWS SDK for Go v2: region
// and credentials come from the SDK's default chain (AWS_REGION,
// AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE and the shared files,
// web identity, ECS and EC2 roles), the endpoint can be overridden for tests
// and LocalStack with CHORUS_SSM_ENDPOINT. Parameters are fetched decrypted,
// at most 10 names per GetParameters call.
//
// A resolved value never appears in an error or a log line from this package:
// errors and logs name the setting and the parameter path only. Callers that
// build their own errors from resolved settings can pass them through Redact.
package secrets

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go"
)

// EndpointEnv is the environment variable that overrides the SSM endpoint
// when Options.Endpoint is empty (tests, LocalStack).
const EndpointEnv = "CHORUS_SSM_ENDPOINT"

// Defaults of Options.
const (
	TimeoutDefault     = 10 * time.Second
	MaxAttemptsDefault = 3
	MaxBackoffDefault  = 2 * time.Second
)

// BatchSize is the most names GetParameters accepts in one call.
const BatchSize = 10

// Errors wrapped by Resolve, for errors.Is. The error of a malformed reference
// wraps ErrMalformedRef.
var (
	// ErrNotFound: SSM reported the parameter in InvalidParameters (it does
	// not exist, or the selector names no version or label of it).
	ErrNotFound = errors.New("parameter not found")
	// ErrNoRegion: no AWS region is configured in the default chain.
	ErrNoRegion = errors.New("no AWS region configured")
)

// Options configure the SSM client. The zero value uses the SDK's default
// chain for everything.
type Options struct {
	// Endpoint overrides the SSM endpoint (for example http://127.0.0.1:4566
	// for LocalStack). Empty: the CHORUS_SSM_ENDPOINT variable, else the SDK's
	// own resolution (which honours AWS_ENDPOINT_URL_SSM).
	Endpoint string
	// Region overrides the region of the default chain (AWS_REGION,
	// AWS_DEFAULT_REGION, the profile's region).
	Region string
	// HTTPClient replaces the SDK's HTTP client. The SDK refuses a plain
	// *http.Client when AWS_CA_BUNDLE is set; leave it nil then.
	HTTPClient *http.Client
	// Timeout bounds the whole resolution, every batch and retry included.
	// Zero: TimeoutDefault.
	Timeout time.Duration
	// MaxAttempts is the number of attempts of one GetParameters call,
	// retries of throttling and 5xx errors included. Zero: MaxAttemptsDefault.
	MaxAttempts int
	// MaxBackoff caps the jittered wait between attempts. Zero:
	// MaxBackoffDefault.
	MaxBackoff time.Duration
	// Logger receives one line per resolution (settings and parameter names,
	// never values). Nil: nothing is logged.
	Logger *slog.Logger
	// Getenv reads CHORUS_SSM_ENDPOINT. Nil: os.Getenv. The SDK itself always
	// reads the process environment.
	Getenv func(string) string
}

// Resolver fetches SSM parameters with one configured client.
type Resolver struct {
	client  *ssm.Client
	timeout time.Duration
	logger  *slog.Logger
}

// NewResolver loads the AWS configuration from the default chain and builds
// an SSM client. It fails with ErrNoRegion when no region is configured, and
// on an endpoint override that is not an http(s) URL. Credentials are only
// looked up on the first request.
func NewResolver(ctx context.Context, opts Options) (*Resolver, error) {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	endpoint := opts.Endpoint
	if endpoint == "" {
		endpoint = getenv(EndpointEnv)
	}
	if endpoint != "" {
		u, err := url.Parse(endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("secrets: parse endpoint: %q is not an http(s):// URL (Options.Endpoint or %s)", endpoint, EndpointEnv)
		}
	}
	var load []func(*config.LoadOptions) error
	if opts.Region != "" {
		load = append(load, config.WithRegion(opts.Region))
	}
	if opts.HTTPClient != nil {
		load = append(load, config.WithHTTPClient(opts.HTTPClient))
	}
	cfg, err := config.LoadDefaultConfig(ctx, load...)
	if err != nil {
		return nil, fmt.Errorf("secrets: load aws config: %w", err)
	}
	if cfg.Region == "" {
		return nil, fmt.Errorf("secrets: load aws config: %w: settings given as ssm:// need one (set AWS_REGION, or a region in the AWS profile)", ErrNoRegion)
	}
	attempts := positive(opts.MaxAttempts, MaxAttemptsDefault)
	backoff := positive(opts.MaxBackoff, MaxBackoffDefault)
	client := ssm.NewFromConfig(cfg, func(o *ssm.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = attempts
			so.MaxBackoff = backoff
			so.Backoff = retry.NewExponentialJitterBackoff(backoff)
		})
	})
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Resolver{
		client:  client,
		timeout: positive(opts.Timeout, TimeoutDefault),
		logger:  logger,
	}, nil
}

// Resolve replaces, in place, every value of refs that is an ssm:// reference
// by the decrypted value of its parameter; refs maps a setting name to its
// value. Other values are left alone. Nothing is fetched, and no AWS
// configuration is loaded, when no value is a reference.
//
// Resolution is all or nothing: on error no value is changed. Malformed
// references are all reported before anything is fetched; parameters SSM does
// not know are all reported by setting (ErrNotFound). Errors never contain a
// resolved value.
func Resolve(ctx context.Context, refs map[string]*string, opts Options) error {
	want, err := parseRefs(refs)
	if err != nil || len(want) == 0 {
		return err
	}
	r, err := NewResolver(ctx, opts)
	if err != nil {
		return err
	}
	return r.resolve(ctx, refs, want)
}

// Resolve is the package-level Resolve with this resolver's client.
func (r *Resolver) Resolve(ctx context.Context, refs map[string]*string) error {
	want, err := parseRefs(refs)
	if err != nil || len(want) == 0 {
		return err
	}
	return r.resolve(ctx, refs, want)
}

// parseRefs returns the settings of each parameter name referenced by refs.
func parseRefs(refs map[string]*string) (map[string][]string, error) {
	want := map[string][]string{}
	var errs []error
	for _, setting := range sortedKeys(refs) {
		p := refs[setting]
		if p == nil {
			errs = append(errs, fmt.Errorf("secrets: setting %q: nil value pointer", setting))
			continue
		}
		if !IsRef(*p) {
			continue
		}
		name, err := ParseRef(*p)
		if err != nil {
			errs = append(errs, fmt.Errorf("secrets: setting %q: %w", setting, err))
			continue
		}
		want[name] = append(want[name], setting)
	}
	return want, errors.Join(errs...)
}

func (r *Resolver) resolve(ctx context.Context, refs map[string]*string, want map[string][]string) error {
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()

	names := sortedKeys(want)
	values := make(map[string]string, len(names))
	var secrets []string // resolved so far, redacted from any error
	var notFound []error
	for batch := range slices.Chunk(names, BatchSize) {
		out, err := r.client.GetParameters(ctx, &ssm.GetParametersInput{
			Names:          batch,
			WithDecryption: aws.Bool(true),
		})
		if err != nil {
			return Redact(r.callError(parent, ctx, batch, want, err), secrets...)
		}
		got := make(map[string]bool, len(batch))
		for _, p := range out.Parameters {
			key := aws.ToString(p.Name) + aws.ToString(p.Selector)
			if _, asked := want[key]; !asked || p.Value == nil {
				continue
			}
			values[key] = *p.Value
			secrets = append(secrets, *p.Value)
			got[key] = true
		}
		invalid := map[string]bool{}
		for _, n := range out.InvalidParameters {
			invalid[n] = true
		}
		for _, n := range batch {
			switch {
			case got[n]:
			case invalid[n]:
				notFound = append(notFound, fmt.Errorf("secrets: setting %s: parameter %q: %w (or not readable with these credentials)", quoteAll(want[n]), n, ErrNotFound))
			default:
				notFound = append(notFound, fmt.Errorf("secrets: setting %s: parameter %q: missing from the GetParameters response", quoteAll(want[n]), n))
			}
		}
	}
	if len(notFound) > 0 {
		return Redact(errors.Join(notFound...), secrets...)
	}
	for name, settings := range want {
		for _, s := range settings {
			*refs[s] = values[name]
		}
	}
	settings := make([]string, 0, len(refs))
	for _, n := range names {
		settings = append(settings, want[n]...)
	}
	slices.Sort(settings)
	r.logger.InfoContext(parent, "resolved settings from ssm", "settings", settings, "parameters", names)
	return nil
}

// callError describes a failed GetParameters call by parameter and setting
// names. A response that could not be decoded is reported without the SDK
// error, whose text may quote the body.
func (r *Resolver) callError(parent, ctx context.Context, batch []string, want map[string][]string, err error) error {
	var settings []string
	for _, n := range batch {
		settings = append(settings, want[n]...)
	}
	slices.Sort(settings)
	what := fmt.Sprintf("get parameters %s (setting %s)", quoteAll(batch), quoteAll(settings))
	var de *smithy.DeserializationError
	switch {
	case parent.Err() != nil:
		return fmt.Errorf("secrets: %s: %w", what, parent.Err())
	case ctx.Err() != nil:
		return fmt.Errorf("secrets: %s: no answer within %s: %w", what, r.timeout, ctx.Err())
	case errors.As(err, &de):
		return fmt.Errorf("secrets: %s: undecodable response from SSM", what)
	}
	return fmt.Errorf("secrets: %s: %w", what, err)
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func positive[T int | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}
