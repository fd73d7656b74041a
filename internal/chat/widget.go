package chat

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/enkisys/chorus/internal/chorus"
)

// WidgetSessionRequest is the body of POST /widget/sessions.
type WidgetSessionRequest struct {
	WidgetKey   string            `json:"widget_key"`
	Name        string            `json:"name"`
	Email       string            `json:"email"`
	Metadata    map[string]string `json:"metadata"`
	ResumeToken string            `json:"resume_token"`
}

// WidgetSession is its answer.
type WidgetSession struct {
	Token        string              `json:"token"`
	ExpiresAt    string              `json:"expires_at"`
	TenantID     string              `json:"tenant_id"`
	Conversation chorus.Conversation `json:"conversation"`
	Contact      chorus.Contact      `json:"contact"`
	ResumeToken  string              `json:"resume_token"`
	Resumed      bool                `json:"resumed"`
}

// Metadata bounds.
const (
	maxMetadataKeys  = 20
	maxMetadataKey   = 64
	maxMetadataValue = 500
	maxNameChars     = 200
)

// CreateWidgetSession starts (or resumes) a visitor's conversation on a
// web_widget channel. origin is the browser's Origin header ("" for
// non-browser clients), or "" as well when the page was served by Chorus
// itself (same origin: the demo page); ip is the client address for rate
// limits.
func (s *Service) CreateWidgetSession(ctx context.Context, req WidgetSessionRequest, origin, ip string) (WidgetSession, error) {
	if err := s.allow(ctx, "widget_sessions_per_ip", ip, s.cfg.Limits.WidgetSessionsPerIP); err != nil {
		return WidgetSession{}, err
	}
	if req.WidgetKey == "" || len(req.WidgetKey) > 128 {
		return WidgetSession{}, chorus.Errorf(chorus.EINVALID, "widget_key: required.")
	}
	if err := validateVisitor(&req); err != nil {
		return WidgetSession{}, err
	}
	if err := s.allow(ctx, "widget_sessions_per_key", req.WidgetKey, s.cfg.Limits.WidgetSessionsPerKey); err != nil {
		return WidgetSession{}, err
	}
	ch, err := s.store.ChannelByWidgetKey(ctx, req.WidgetKey)
	if err != nil {
		if chorus.ErrorCode(err) == chorus.ENOTFOUND {
			return WidgetSession{}, chorus.Errorf(chorus.ENOTFOUND, "Unknown widget key.")
		}
		return WidgetSession{}, err
	}
	if origin != "" && !OriginAllowed(ch.AllowedOrigins, origin) {
		return WidgetSession{}, chorus.Errorf(chorus.EFORBIDDEN, "This website is not allowed to use this widget.")
	}
	tenant := ch.TenantID
	now := s.now().UTC()

	var contact chorus.Contact
	var conv chorus.Conversation
	resumed := false
	resumeToken := req.ResumeToken
	if resumeToken != "" {
		contact, err = s.store.ContactByIdentity(ctx, tenant, ch.ID, chorus.IdentityResumeToken, hashToken(resumeToken))
		switch chorus.ErrorCode(err) {
		case "":
			resumed = true
			conv, err = s.store.ContactOpenConversation(ctx, tenant, contact.ID)
			if err != nil && chorus.ErrorCode(err) != chorus.ENOTFOUND {
				return WidgetSession{}, err
			}
			if err == nil && conv.ChannelID != ch.ID {
				conv = chorus.Conversation{}
			}
		case chorus.ENOTFOUND:
			resumeToken = "" // unknown or foreign token: a new visitor
		default:
			return WidgetSession{}, err
		}
	}
	if !resumed {
		resumeToken = randomToken(32)
		contact, err = s.store.ContactCreate(ctx, tenant, chorus.Contact{
			ID: newID(), TenantID: tenant, Name: req.Name, Email: req.Email, Metadata: req.Metadata, CreatedAt: now,
		})
		if err != nil {
			return WidgetSession{}, err
		}
		if err := s.store.ContactIdentitySet(ctx, tenant, contact.ID, ch.ID, chorus.IdentityResumeToken, hashToken(resumeToken)); err != nil {
			return WidgetSession{}, err
		}
	}
	if conv.ID == "" {
		conv, err = s.store.ConversationCreate(ctx, tenant, chorus.Conversation{
			ID: newID(), TenantID: tenant, ChannelID: ch.ID, ContactID: contact.ID, Status: chorus.StatusQueued,
			CreatedAt: now, QueuedAt: &now, UpdatedAt: now,
		})
		if err != nil {
			return WidgetSession{}, err
		}
		s.publishConversation(ctx, &conv)
	}
	token, exp, err := s.issue(TokenClaims{
		Subject: contact.ID, TenantID: tenant, Roles: []string{chorus.RoleVisitor},
		ConversationID: conv.ID, Name: contact.Name,
	}, s.cfg.VisitorTokenTTL)
	if err != nil {
		return WidgetSession{}, err
	}
	return WidgetSession{
		Token: token, ExpiresAt: exp.UTC().Format(timeFormat), TenantID: tenant,
		Conversation: conv, Contact: contact, ResumeToken: resumeToken, Resumed: resumed,
	}, nil
}

const timeFormat = "2006-01-02T15:04:05Z07:00"

func hashToken(t string) string {
	h := sha256.Sum256([]byte(t))
	return hex.EncodeToString(h[:])
}

func validateVisitor(req *WidgetSessionRequest) error {
	req.Name = strings.TrimSpace(req.Name)
	if !utf8.ValidString(req.Name) || utf8.RuneCountInString(req.Name) > maxNameChars || hasControl(req.Name) {
		return chorus.Errorf(chorus.EINVALID, "name: at most %d characters of text.", maxNameChars)
	}
	req.Email = strings.TrimSpace(req.Email)
	if req.Email != "" {
		if err := ValidEmail(req.Email); err != nil {
			return err
		}
	}
	if len(req.ResumeToken) > 128 {
		return chorus.Errorf(chorus.EINVALID, "resume_token: too long.")
	}
	if len(req.Metadata) > maxMetadataKeys {
		return chorus.Errorf(chorus.EINVALID, "metadata: at most %d keys.", maxMetadataKeys)
	}
	for k, v := range req.Metadata {
		if k == "" || len(k) > maxMetadataKey || !utf8.ValidString(k) || hasControl(k) {
			return chorus.Errorf(chorus.EINVALID, "metadata: keys are 1 to %d characters of text.", maxMetadataKey)
		}
		if len(v) > maxMetadataValue || !utf8.ValidString(v) || hasControl(v) {
			return chorus.Errorf(chorus.EINVALID, "metadata: values are at most %d bytes of text.", maxMetadataValue)
		}
	}
	return nil
}

// ValidEmail checks a bare e-mail address.
func ValidEmail(e string) error {
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || len(e) > 254 || a.Name != "" {
		return chorus.Errorf(chorus.EINVALID, "email: not a valid address.")
	}
	return nil
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || (r >= 0x7f && r < 0xa0) {
			return true
		}
	}
	return false
}

// SameOrigin reports whether the browser Origin of r is the server's own
// host (a page Chorus served itself, such as /demo).
func SameOrigin(r *http.Request, origin string) bool {
	u, err := url.Parse(origin)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host)
}

// OriginAllowed reports whether a browser Origin is in allowed ("*" allows all).
func OriginAllowed(allowed []string, origin string) bool {
	if slices.Contains(allowed, "*") {
		return true
	}
	o := strings.TrimRight(strings.ToLower(origin), "/")
	for _, a := range allowed {
		if strings.TrimRight(strings.ToLower(a), "/") == o {
			return true
		}
	}
	return false
}

// normalizeOrigins validates allowed_origins: "*" or scheme://host[:port].
func normalizeOrigins(in []string) ([]string, error) {
	if len(in) > 50 {
		return nil, chorus.Errorf(chorus.EINVALID, "allowed_origins: at most 50.")
	}
	out := make([]string, 0, len(in))
	for _, o := range in {
		if o == "*" {
			out = append(out, o)
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			return nil, chorus.Errorf(chorus.EINVALID, "allowed_origins: %q is not an origin like https://example.com.", truncate(o, 80))
		}
		out = append(out, strings.ToLower(u.Scheme+"://"+u.Host))
	}
	return out, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
