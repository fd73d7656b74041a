package chat

import (
	"context"
	"net"
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/enkisys/chorus/internal/chorus"
	"github.com/enkisys/chorus/internal/server"
)

// Module is the chat role: the REST API over the Service.
type Module struct {
	svc   *Service
	authn func(http.Handler) http.Handler
}

// NewModule returns the chat role; authn authenticates requests (auth
// middleware with just-in-time provisioning).
func NewModule(svc *Service, authn func(http.Handler) http.Handler) *Module {
	return &Module{svc: svc, authn: authn}
}

// Start has nothing to run: handlers are mounted by Routes.
func (m *Module) Start(context.Context) error { return nil }

// Stop has nothing to release.
func (m *Module) Stop(context.Context) error { return nil }

// Routes mounts the REST API on r (the /api/v1 router): one readable table.
func (m *Module) Routes(r chi.Router) {
	r.Post("/auth/login", withBody(m.login))
	r.Post("/widget/sessions", withBody(m.createWidgetSession))
	r.Group(func(r chi.Router) {
		r.Use(m.authn, m.tenantLimit)
		r.Get("/me", m.me)
		r.Get("/conversations", m.listConversations)
		r.Get("/conversations/{id}", m.getConversation)
		r.Get("/conversations/{id}/messages", m.listMessages)
		r.Post("/conversations/{id}/messages", withBody(m.sendMessage))
		r.Post("/conversations/{id}/read", withBody(m.markRead))
		r.Post("/conversations/{id}/accept", m.accept)
		r.Post("/conversations/{id}/transfer", withBody(m.transfer))
		r.Post("/conversations/{id}/close", m.close)
		r.Get("/queue", m.queue)
		r.Get("/agents", m.listAgents)
		r.Post("/agents", withBody(m.createAgent))
		r.Put("/agents/me/status", withBody(m.setStatus))
		r.Get("/channels", m.listChannels)
		r.Post("/channels", withBody(m.createChannel))
		r.Get("/audit", m.auditLog)
	})
}

// tenantLimit applies the per-tenant API rate and tags the access log.
func (m *Module) tenantLimit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := chorus.PrincipalFromContext(r.Context())
		if err != nil {
			server.WriteError(w, r, err)
			return
		}
		server.AnnotateTenant(r.Context(), p.TenantID)
		if err := m.svc.allow(r.Context(), "api_per_tenant", p.TenantID, m.svc.cfg.Limits.APIPerTenant); err != nil {
			server.WriteError(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// ClientIP is the peer address of r (proxies are not trusted).
func ClientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func principal(r *http.Request) chorus.Principal {
	p, _ := chorus.PrincipalFromContext(r.Context())
	return p
}

// queryInts reads integer query parameters (0 when absent).
func queryInts(r *http.Request, names ...string) ([]int64, error) {
	out := make([]int64, len(names))
	for i, name := range names {
		v := r.URL.Query().Get(name)
		if v == "" {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, chorus.Errorf(chorus.EINVALID, "%s: must be an integer.", name)
		}
		out[i] = n
	}
	return out, nil
}

// pageLimit bounds a limit parameter before the service clamps it.
func pageLimit(n int64) int { return int(min(max(n, 0), 1000)) }

// withBody decodes the JSON body into a T and calls h; a bad body is
// answered here (400 naming the problem, 413 over the limit).
func withBody[T any](h func(w http.ResponseWriter, r *http.Request, req T)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req T
		if err := server.Decode(r, &req); err != nil {
			server.WriteError(w, r, err)
			return
		}
		h(w, r, req)
	}
}

func respond(w http.ResponseWriter, r *http.Request, status int, v any, err error) {
	if err != nil {
		server.WriteError(w, r, err)
		return
	}
	server.WriteJSON(w, status, v)
}

// respondItems writes {"items": [...]}, an empty list rather than null.
func respondItems[T any](w http.ResponseWriter, r *http.Request, items []T, err error) {
	if items == nil {
		items = []T{}
	}
	respond(w, r, http.StatusOK, map[string]any{"items": items}, err)
}

func (m *Module) login(w http.ResponseWriter, r *http.Request, req LoginRequest) {
	res, err := m.svc.Login(r.Context(), req, ClientIP(r))
	if err == nil {
		server.AnnotateTenant(r.Context(), res.Agent.TenantID)
	}
	respond(w, r, http.StatusOK, res, err)
}

func (m *Module) createWidgetSession(w http.ResponseWriter, r *http.Request, req WidgetSessionRequest) {
	origin := r.Header.Get("Origin")
	if SameOrigin(r, origin) {
		origin = ""
	}
	res, err := m.svc.CreateWidgetSession(r.Context(), req, origin, ClientIP(r))
	if err == nil {
		server.AnnotateTenant(r.Context(), res.TenantID)
	}
	respond(w, r, http.StatusCreated, res, err)
}

func (m *Module) me(w http.ResponseWriter, r *http.Request) {
	me, err := m.svc.Me(r.Context(), principal(r))
	respond(w, r, http.StatusOK, me, err)
}

func (m *Module) listConversations(w http.ResponseWriter, r *http.Request) {
	n, err := queryInts(r, "limit")
	if err != nil {
		server.WriteError(w, r, err)
		return
	}
	q := r.URL.Query()
	items, next, err := m.svc.ListConversations(r.Context(), principal(r), chorus.ConversationFilter{
		Status: q.Get("status"), AssigneeID: q.Get("assignee_id"), Limit: pageLimit(n[0]), Cursor: q.Get("cursor"),
	})
	if items == nil {
		items = []chorus.Conversation{}
	}
	respond(w, r, http.StatusOK, map[string]any{"items": items, "next_cursor": next}, err)
}

func (m *Module) getConversation(w http.ResponseWriter, r *http.Request) {
	c, err := m.svc.GetConversation(r.Context(), principal(r), chi.URLParam(r, "id"))
	respond(w, r, http.StatusOK, c, err)
}

func (m *Module) listMessages(w http.ResponseWriter, r *http.Request) {
	n, err := queryInts(r, "after_seq", "limit")
	if err != nil {
		server.WriteError(w, r, err)
		return
	}
	items, err := m.svc.ListMessages(r.Context(), principal(r), chi.URLParam(r, "id"), n[0], pageLimit(n[1]))
	respondItems(w, r, items, err)
}

type sendRequest struct {
	ClientMsgID string `json:"client_msg_id"`
	Body        string `json:"body"`
}

func (m *Module) sendMessage(w http.ResponseWriter, r *http.Request, req sendRequest) {
	msg, created, err := m.svc.SendMessage(r.Context(), principal(r), chi.URLParam(r, "id"), req.ClientMsgID, req.Body, "")
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	respond(w, r, status, msg, err)
}

type readRequest struct {
	Seq int64 `json:"seq"`
}

func (m *Module) markRead(w http.ResponseWriter, r *http.Request, req readRequest) {
	if err := m.svc.MarkRead(r.Context(), principal(r), chi.URLParam(r, "id"), req.Seq); err != nil {
		server.WriteError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (m *Module) accept(w http.ResponseWriter, r *http.Request) {
	c, err := m.svc.Accept(r.Context(), principal(r), chi.URLParam(r, "id"))
	respond(w, r, http.StatusOK, c, err)
}

func (m *Module) transfer(w http.ResponseWriter, r *http.Request, req TransferTo) {
	c, err := m.svc.Transfer(r.Context(), principal(r), chi.URLParam(r, "id"), req)
	respond(w, r, http.StatusOK, c, err)
}

func (m *Module) close(w http.ResponseWriter, r *http.Request) {
	c, err := m.svc.Close(r.Context(), principal(r), chi.URLParam(r, "id"))
	respond(w, r, http.StatusOK, c, err)
}

func (m *Module) queue(w http.ResponseWriter, r *http.Request) {
	n, err := queryInts(r, "limit")
	if err != nil {
		server.WriteError(w, r, err)
		return
	}
	items, err := m.svc.Queue(r.Context(), principal(r), pageLimit(n[0]))
	respondItems(w, r, items, err)
}

func (m *Module) listAgents(w http.ResponseWriter, r *http.Request) {
	items, err := m.svc.ListAgents(r.Context(), principal(r))
	respondItems(w, r, items, err)
}

func (m *Module) createAgent(w http.ResponseWriter, r *http.Request, req CreateAgentRequest) {
	a, err := m.svc.CreateAgent(r.Context(), principal(r), req)
	respond(w, r, http.StatusCreated, a, err)
}

type statusRequest struct {
	Status string `json:"status"`
}

func (m *Module) setStatus(w http.ResponseWriter, r *http.Request, req statusRequest) {
	a, err := m.svc.SetStatus(r.Context(), principal(r), req.Status)
	respond(w, r, http.StatusOK, a, err)
}

func (m *Module) listChannels(w http.ResponseWriter, r *http.Request) {
	items, err := m.svc.ListChannels(r.Context(), principal(r))
	respondItems(w, r, items, err)
}

func (m *Module) createChannel(w http.ResponseWriter, r *http.Request, req CreateChannelRequest) {
	ch, err := m.svc.CreateChannel(r.Context(), principal(r), req)
	respond(w, r, http.StatusCreated, ch, err)
}

func (m *Module) auditLog(w http.ResponseWriter, r *http.Request) {
	n, err := queryInts(r, "before_id", "limit")
	if err != nil {
		server.WriteError(w, r, err)
		return
	}
	items, err := m.svc.AuditLog(r.Context(), principal(r), n[0], pageLimit(n[1]))
	respondItems(w, r, items, err)
}
