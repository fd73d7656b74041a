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
	r.Post("/auth/login", m.login)
	r.Post("/widget/sessions", m.createWidgetSession)
	r.Group(func(r chi.Router) {
		r.Use(m.authn, m.tenantLimit)
		r.Get("/me", m.me)
		r.Get("/conversations", m.listConversations)
		r.Get("/conversations/{id}", m.getConversation)
		r.Get("/conversations/{id}/messages", m.listMessages)
		r.Post("/conversations/{id}/messages", m.sendMessage)
		r.Post("/conversations/{id}/read", m.markRead)
		r.Post("/conversations/{id}/accept", m.accept)
		r.Post("/conversations/{id}/transfer", m.transfer)
		r.Post("/conversations/{id}/close", m.close)
		r.Get("/queue", m.queue)
		r.Get("/agents", m.listAgents)
		r.Post("/agents", m.createAgent)
		r.Put("/agents/me/status", m.setStatus)
		r.Get("/channels", m.listChannels)
		r.Post("/channels", m.createChannel)
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

func queryInt(r *http.Request, name string) (int64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, chorus.Errorf(chorus.EINVALID, "%s: must be an integer.", name)
	}
	return n, nil
}

func (m *Module) login(w http.ResponseWriter, r *http.Request) {
	var req LoginRequest
	if err := server.Decode(r, &req); err != nil {
		server.WriteError(w, r, err)
		return
	}
	res, err := m.svc.Login(r.Context(), req, ClientIP(r))
	if err != nil {
		server.WriteError(w, r, err)
		return
	}
	server.AnnotateTenant(r.Context(), res.Agent.TenantID)
	server.WriteJSON(w, http.StatusOK, res)
}

func (m *Module) createWidgetSession(w http.ResponseWriter, r *http.Request) {
	var req WidgetSessionRequest
	if err := server.Decode(r, &req); err != nil {
		server.WriteError(w, r, err)
		return
	}
	origin := r.Header.Get("Origin")
	if SameOrigin(r, origin) {
		origin = ""
	}
	res, err := m.svc.CreateWidgetSession(r.Context(), req, origin, ClientIP(r))
	if err != nil {
		server.WriteError(w, r, err)
		return
	}
	server.AnnotateTenant(r.Context(), res.TenantID)
	server.WriteJSON(w, http.StatusCreated, res)
}

func (m *Module) me(w http.ResponseWriter, r *http.Request) {
	me, err := m.svc.Me(r.Context(), principal(r))
	respond(w, r, http.StatusOK, me, err)
}

func (m *Module) listConversations(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, err := queryInt(r, "limit")
	if err != nil {
		server.WriteError(w, r, err)
		return
	}
	items, next, err := m.svc.ListConversations(r.Context(), principal(r), chorus.ConversationFilter{
		Status: q.Get("status"), AssigneeID: q.Get("assignee_id"), Limit: int(limit), Cursor: q.Get("cursor"),
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
	after, err := queryInt(r, "after_seq")
	if err != nil {
		server.WriteError(w, r, err)
		return
	}
	limit, err := queryInt(r, "limit")
	if err != nil {
		server.WriteError(w, r, err)
		return
	}
	items, err := m.svc.ListMessages(r.Context(), principal(r), chi.URLParam(r, "id"), after, int(min(max(limit, 0), 1000)))
	if items == nil {
		items = []chorus.Message{}
	}
	respond(w, r, http.StatusOK, map[string]any{"items": items}, err)
}

func (m *Module) sendMessage(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ClientMsgID string `json:"client_msg_id"`
		Body        string `json:"body"`
	}
	if err := server.Decode(r, &req); err != nil {
		server.WriteError(w, r, err)
		return
	}
	msg, created, err := m.svc.SendMessage(r.Context(), principal(r), chi.URLParam(r, "id"), req.ClientMsgID, req.Body, "")
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	respond(w, r, status, msg, err)
}

func (m *Module) markRead(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Seq int64 `json:"seq"`
	}
	if err := server.Decode(r, &req); err != nil {
		server.WriteError(w, r, err)
		return
	}
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

func (m *Module) transfer(w http.ResponseWriter, r *http.Request) {
	var req TransferTo
	if err := server.Decode(r, &req); err != nil {
		server.WriteError(w, r, err)
		return
	}
	c, err := m.svc.Transfer(r.Context(), principal(r), chi.URLParam(r, "id"), req)
	respond(w, r, http.StatusOK, c, err)
}

func (m *Module) close(w http.ResponseWriter, r *http.Request) {
	c, err := m.svc.Close(r.Context(), principal(r), chi.URLParam(r, "id"))
	respond(w, r, http.StatusOK, c, err)
}

func (m *Module) queue(w http.ResponseWriter, r *http.Request) {
	limit, err := queryInt(r, "limit")
	if err != nil {
		server.WriteError(w, r, err)
		return
	}
	items, err := m.svc.Queue(r.Context(), principal(r), int(min(max(limit, 0), 1000)))
	if items == nil {
		items = []QueueEntry{}
	}
	respond(w, r, http.StatusOK, map[string]any{"items": items}, err)
}

func (m *Module) listAgents(w http.ResponseWriter, r *http.Request) {
	items, err := m.svc.ListAgents(r.Context(), principal(r))
	if items == nil {
		items = []chorus.Agent{}
	}
	respond(w, r, http.StatusOK, map[string]any{"items": items}, err)
}

func (m *Module) createAgent(w http.ResponseWriter, r *http.Request) {
	var req CreateAgentRequest
	if err := server.Decode(r, &req); err != nil {
		server.WriteError(w, r, err)
		return
	}
	a, err := m.svc.CreateAgent(r.Context(), principal(r), req)
	respond(w, r, http.StatusCreated, a, err)
}

func (m *Module) setStatus(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Status string `json:"status"`
	}
	if err := server.Decode(r, &req); err != nil {
		server.WriteError(w, r, err)
		return
	}
	a, err := m.svc.SetStatus(r.Context(), principal(r), req.Status)
	respond(w, r, http.StatusOK, a, err)
}

func (m *Module) listChannels(w http.ResponseWriter, r *http.Request) {
	items, err := m.svc.ListChannels(r.Context(), principal(r))
	if items == nil {
		items = []chorus.Channel{}
	}
	respond(w, r, http.StatusOK, map[string]any{"items": items}, err)
}

func (m *Module) createChannel(w http.ResponseWriter, r *http.Request) {
	var req CreateChannelRequest
	if err := server.Decode(r, &req); err != nil {
		server.WriteError(w, r, err)
		return
	}
	ch, err := m.svc.CreateChannel(r.Context(), principal(r), req)
	respond(w, r, http.StatusCreated, ch, err)
}

func (m *Module) auditLog(w http.ResponseWriter, r *http.Request) {
	before, err := queryInt(r, "before_id")
	if err != nil {
		server.WriteError(w, r, err)
		return
	}
	limit, err := queryInt(r, "limit")
	if err != nil {
		server.WriteError(w, r, err)
		return
	}
	items, err := m.svc.AuditLog(r.Context(), principal(r), before, int(min(max(limit, 0), 1000)))
	if items == nil {
		items = []chorus.AuditEntry{}
	}
	respond(w, r, http.StatusOK, map[string]any{"items": items}, err)
}

func respond(w http.ResponseWriter, r *http.Request, status int, v any, err error) {
	if err != nil {
		server.WriteError(w, r, err)
		return
	}
	server.WriteJSON(w, status, v)
}
