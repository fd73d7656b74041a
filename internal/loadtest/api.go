package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"
)

// maxRetries bounds retries of a rate-limited request. It is generous: the
// server's per-minute limits (widget sessions per IP: 20/min by default) can
// make a large ramp wait several Retry-After periods per request.
const maxRetries = 100

// api is a minimal REST client for the endpoints of PROTOCOL.md the tool uses.
// It keeps one HTTP client per source address: keep-alive would otherwise
// funnel every request through one connection and one address, and the
// server's per-address limits (widget sessions per IP) would throttle the ramp.
type api struct {
	base    *url.URL
	tenant  string
	clients []*http.Client
	next    atomic.Uint64
}

func newAPI(base *url.URL, tenant string, d dialers) *api {
	a := &api{base: base, tenant: tenant}
	for i := range d {
		a.clients = append(a.clients, &http.Client{
			Timeout:   30 * time.Second,
			Transport: &http.Transport{DialContext: d.netDial(i), MaxIdleConnsPerHost: 16},
		})
	}
	return a
}

// APIError is a non-2xx answer.
type APIError struct {
	Status int
	Code   string
	Body   string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("status %d %s: %s", e.Status, e.Code, e.Body)
}

type wireConversation struct {
	ID         string  `json:"id"`
	Status     string  `json:"status"`
	AssigneeID *string `json:"assignee_id"`
	LastSeq    int64   `json:"last_seq"`
}

type sessionResp struct {
	Token        string           `json:"token"`
	TenantID     string           `json:"tenant_id"`
	Conversation wireConversation `json:"conversation"`
	Contact      struct {
		ID string `json:"id"`
	} `json:"contact"`
}

// retryAfter parses a Retry-After header in seconds (the only form the
// server sends); it floors the wait at 50 ms so "0" cannot spin.
func retryAfter(h string, attempt int) time.Duration {
	d := time.Duration(50*(attempt+1)) * time.Millisecond
	if s, err := strconv.ParseFloat(h, 64); err == nil && s >= 0 {
		d = max(time.Duration(s*float64(time.Second)), 50*time.Millisecond)
	}
	return d
}

// do sends one request, retrying 429 answers after Retry-After. out may be
// nil. It returns the final status.
func (a *api) do(ctx context.Context, method, path, token string, in, out any) (int, error) {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return 0, fmt.Errorf("loadtest: encode request: %w", err)
		}
	}
	u := *a.base
	u.Path, u.RawQuery = "", ""
	target := u.String() + path
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, method, target, bytes.NewReader(body))
		if err != nil {
			return 0, fmt.Errorf("loadtest: build request: %w", err)
		}
		if in != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if a.tenant != "" {
			req.Header.Set("X-Tenant-ID", a.tenant)
		}
		resp, err := a.clients[a.next.Add(1)%uint64(len(a.clients))].Do(req)
		if err != nil {
			return 0, fmt.Errorf("loadtest: %s %s: %w", method, path, err)
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if err != nil {
			return resp.StatusCode, fmt.Errorf("loadtest: read %s %s: %w", method, path, err)
		}
		if resp.StatusCode == http.StatusTooManyRequests && attempt < maxRetries {
			wait := retryAfter(resp.Header.Get("Retry-After"), attempt)
			select {
			case <-ctx.Done():
				return resp.StatusCode, fmt.Errorf("loadtest: %s %s: %w", method, path, ctx.Err())
			case <-time.After(wait):
			}
			continue
		}
		if resp.StatusCode/100 != 2 {
			ae := &APIError{Status: resp.StatusCode, Body: string(bytes.TrimSpace(b))}
			var e struct {
				Error struct {
					Code string `json:"code"`
				} `json:"error"`
			}
			if json.Unmarshal(b, &e) == nil {
				ae.Code = e.Error.Code
			}
			if len(ae.Body) > 300 {
				ae.Body = ae.Body[:300]
			}
			return resp.StatusCode, fmt.Errorf("loadtest: %s %s: %w", method, path, ae)
		}
		if out != nil {
			if err := json.Unmarshal(b, out); err != nil {
				return resp.StatusCode, fmt.Errorf("loadtest: decode %s %s: %w", method, path, err)
			}
		}
		return resp.StatusCode, nil
	}
}

func (a *api) createChannel(ctx context.Context, adminToken string) (string, error) {
	var ch struct {
		ID        string `json:"id"`
		WidgetKey string `json:"widget_key"`
	}
	in := map[string]any{"type": "web_widget", "name": "chorus-load " + time.Now().UTC().Format(time.RFC3339), "allowed_origins": []string{}}
	if _, err := a.do(ctx, http.MethodPost, "/api/v1/channels", adminToken, in, &ch); err != nil {
		return "", err
	}
	if ch.WidgetKey == "" {
		return "", fmt.Errorf("loadtest: create channel: answer has no widget_key")
	}
	return ch.WidgetKey, nil
}

func (a *api) createSession(ctx context.Context, widgetKey, name string) (sessionResp, error) {
	var s sessionResp
	in := map[string]any{"widget_key": widgetKey, "name": name}
	if _, err := a.do(ctx, http.MethodPost, "/api/v1/widget/sessions", "", in, &s); err != nil {
		return s, err
	}
	if s.Token == "" || s.Conversation.ID == "" {
		return s, fmt.Errorf("loadtest: create session: answer lacks token or conversation.id")
	}
	return s, nil
}

func (a *api) accept(ctx context.Context, token, convID string) (wireConversation, error) {
	var c wireConversation
	_, err := a.do(ctx, http.MethodPost, "/api/v1/conversations/"+url.PathEscape(convID)+"/accept", token, nil, &c)
	return c, err
}

func (a *api) conversation(ctx context.Context, token, convID string) (wireConversation, error) {
	var c wireConversation
	_, err := a.do(ctx, http.MethodGet, "/api/v1/conversations/"+url.PathEscape(convID), token, nil, &c)
	return c, err
}

func (a *api) recentMessages(ctx context.Context, token, convID string) error {
	var page struct {
		Items []json.RawMessage `json:"items"`
	}
	_, err := a.do(ctx, http.MethodGet, "/api/v1/conversations/"+url.PathEscape(convID)+"/messages?limit=20", token, nil, &page)
	return err
}
