package secrets

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestParseRef(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
		reason   string // substring of the error; empty: valid
	}{
		{"ssm:///chorus/prod/jwt-secret", "/chorus/prod/jwt-secret", ""},
		{"SSM:///chorus/x", "/chorus/x", ""},
		{"Ssm://plain_name.v-2", "plain_name.v-2", ""},
		{"ssm:///a/b:3", "/a/b:3", ""},
		{"ssm://name:prod-label", "name:prod-label", ""},
		{"ssm:///aws/service/global-infrastructure/current-region", "/aws/service/global-infrastructure/current-region", ""},
		{"ssm:///" + strings.Repeat("a", 2047), "/" + strings.Repeat("a", 2047), ""},
		{"ssm:/a/b", "", "want ssm:///path/name"},
		{"ssm:a", "", "want ssm:///path/name"},
		{"ssm:", "", "want ssm:///path/name"},
		{"ssm://", "", "empty parameter name"},
		{"ssm:///", "", "empty parameter name"},
		{"ssm://chorus/jwt", "", "needs three slashes"},
		{"ssm:////a", "", "empty path segment"},
		{"ssm:///a//b", "", "empty path segment"},
		{"ssm:///a/", "", "ends with '/'"},
		{"ssm:///a b", "", "only letters"},
		{"ssm:///a?b=c", "", "only letters"},
		{"ssm:///a#frag", "", "only letters"},
		{"ssm:///a%2Fb", "", "only letters"},
		{"ssm:///a/b:", "", "empty version or label"},
		{"ssm:///a:b:c", "", "only letters"},
		{"ssm:///a/b:l@bel", "", "version or label"},
		{"ssm:///a:" + strings.Repeat("x", 101), "", "version or label"},
		{"ssm:///" + strings.Repeat("a", 2048), "", "longer than 2048"},
		{"ssm://arn:aws:ssm:us-east-1:1:parameter/x", "", ""}, // reason checked below: any error
	}
	for _, tt := range tests {
		t.Run(tt.in[:min(len(tt.in), 40)], func(t *testing.T) {
			t.Parallel()
			got, err := ParseRef(tt.in)
			if strings.HasPrefix(tt.in, "ssm://arn:") {
				if err == nil {
					t.Fatalf("ParseRef(ARN) = %q, want an error", got)
				}
				return
			}
			if tt.reason == "" {
				if err != nil || got != tt.want {
					t.Fatalf("ParseRef = %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			if !errors.Is(err, ErrMalformedRef) || !strings.Contains(err.Error(), tt.reason) {
				t.Fatalf("ParseRef err = %v, want ErrMalformedRef with %q", err, tt.reason)
			}
			if got != "" {
				t.Errorf("ParseRef returned %q with an error", got)
			}
			if len(tt.in) > len("ssm:///a") && strings.Contains(err.Error(), tt.in[len("ssm:"):]) {
				t.Errorf("error quotes the value: %v", err)
			}
		})
	}
}

func TestIsRef(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]bool{
		"ssm:///a": true, "SSM:x": true, "ssm:": true,
		"ssm": false, "": false, "postgres://ssm:///a": false, " ssm:///a": false,
	} {
		if got := IsRef(in); got != want {
			t.Errorf("IsRef(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	if Redact(nil, "x") != nil {
		t.Error("Redact(nil) is not nil")
	}
	base := errors.New("log-level: \"hunter2\" is not one of debug, info")
	if got := Redact(base, "other", ""); got != base {
		t.Errorf("Redact without a match returned %v, want the same error", got)
	}
	wrapped := fmt.Errorf("app: load config: %w", base)
	got := Redact(wrapped, "hunter", "hunter2")
	if want := `app: load config: log-level: "[redacted]" is not one of debug, info`; got.Error() != want {
		t.Errorf("Redact = %q, want %q (longest secret first)", got, want)
	}
	if !errors.Is(got, base) {
		t.Error("Redact broke errors.Is")
	}
}
