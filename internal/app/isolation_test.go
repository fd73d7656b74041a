package app

import (
	"net/http"
	"strings"
	"testing"

	"github.com/enkisys/chorus/internal/chorus"
)

// TestTenantIsolation walks every REST route and both socket routes with a
// second tenant's tokens and the first tenant's ids: every answer is 403 or
// 404, and nothing changes.
func TestTenantIsolation(t *testing.T) {
	engines(t, func(t *testing.T, e *env) {
		// Tenant A: a channel, a conversation with one message, assigned.
		_, key := e.setupTenant()
		s := e.visitor(key)
		conv := s.Conversation.ID
		agentA := e.token("agent-a", chorus.RoleAgent)
		e.must(e.call("POST", "/api/v1/conversations/"+conv+"/accept", agentA, nil), 200)
		e.must(e.call("POST", "/api/v1/conversations/"+conv+"/messages", agentA, map[string]any{"client_msg_id": "x", "body": "secret"}), 201)
		before := e.must(e.call("GET", "/api/v1/conversations/"+conv, agentA, nil), 200).body

		tenantB := "other" + e.tenant
		tokB := func(roles ...string) string { return e.tokenFor(tenantB, "intruder", "", roles...) }
		adminB := tokB(chorus.RoleAdmin, chorus.RoleSupervisor, chorus.RoleAgent)
		visitorB := e.tokenFor(tenantB, s.Contact.ID, conv, chorus.RoleVisitor) // B's visitor naming A's ids

		routes := []struct {
			method, path string
			body         any
		}{
			{"GET", "/api/v1/conversations/" + conv, nil},
			{"GET", "/api/v1/conversations/" + conv + "/messages", nil},
			{"POST", "/api/v1/conversations/" + conv + "/messages", map[string]any{"client_msg_id": "evil", "body": "hi"}},
			{"POST", "/api/v1/conversations/" + conv + "/read", map[string]any{"seq": 1}},
			{"POST", "/api/v1/conversations/" + conv + "/accept", nil},
			{"POST", "/api/v1/conversations/" + conv + "/transfer", map[string]any{"agent_id": "intruder"}},
			{"POST", "/api/v1/conversations/" + conv + "/close", nil},
		}
		for _, tok := range []string{adminB, visitorB} {
			for _, rt := range routes {
				r := e.callTenant(rt.method, rt.path, tok, tenantB, rt.body)
				if r.status != http.StatusNotFound && r.status != http.StatusForbidden {
					t.Errorf("%s %s as tenant B: %d %s", rt.method, rt.path, r.status, r.body)
				}
				if strings.Contains(string(r.body), "secret") {
					t.Errorf("%s %s leaked a message body", rt.method, rt.path)
				}
			}
		}
		// Tenant-wide lists of B never show A's objects.
		for _, p := range []string{"/api/v1/conversations", "/api/v1/queue", "/api/v1/agents", "/api/v1/channels", "/api/v1/audit"} {
			r := e.callTenant("GET", p, adminB, tenantB, nil)
			if r.status != 200 {
				t.Errorf("GET %s as B: %d", p, r.status)
			}
			if strings.Contains(string(r.body), conv) || strings.Contains(string(r.body), key) || strings.Contains(string(r.body), "agent-a") {
				t.Errorf("GET %s as B shows A's objects: %s", p, r.body)
			}
		}
		// A's token presented for tenant B (header mismatch) is refused.
		if r := e.callTenant("GET", "/api/v1/conversations/"+conv, agentA, tenantB, nil); r.status != 403 {
			t.Errorf("tenant header mismatch: %d", r.status)
		}
		// Sockets.
		for _, tok := range []string{adminB, visitorB} {
			_, res, err := e.dialTenant("/ws/v1/conversations/"+conv, tok, tenantB)
			if err == nil || res == nil || (res.StatusCode != 404 && res.StatusCode != 403) {
				t.Errorf("socket to A's conversation as B: %v %v", err, res)
			}
		}
		// B's agent stream never carries A's events.
		agentStreamB := e.mustDialTenant("/ws/v1/agent", adminB, tenantB)
		e.must(e.call("POST", "/api/v1/conversations/"+conv+"/messages", agentA, map[string]any{"client_msg_id": "y", "body": "secret 2"}), 201)
		e.visitor(key) // a new queued conversation in A
		agentStreamB.none("queue", 300*1e6)

		after := e.must(e.call("GET", "/api/v1/conversations/"+conv, agentA, nil), 200).body
		var b1, b2 chorus.Conversation
		resp{body: before}.json(t, &b1)
		resp{body: after}.json(t, &b2)
		if b1.Status != b2.Status || *b1.AssigneeID != *b2.AssigneeID || b2.LastSeq != 2 {
			t.Errorf("A's conversation changed: %s → %s", before, after)
		}
		var hist struct{ Items []chorus.Message }
		e.must(e.call("GET", "/api/v1/conversations/"+conv+"/messages", agentA, nil), 200).json(t, &hist)
		for _, m := range hist.Items {
			if m.ClientMsgID == "evil" {
				t.Error("tenant B wrote into A's conversation")
			}
		}
	})
}

// TestPermissions checks the role rules inside one tenant.
func TestPermissions(t *testing.T) {
	engines(t, func(t *testing.T, e *env) {
		admin, key := e.setupTenant()
		s := e.visitor(key)
		conv := s.Conversation.ID
		a1 := e.token("agent-1", chorus.RoleAgent)
		a2 := e.token("agent-2", chorus.RoleAgent)
		sup := e.token("sup-1", chorus.RoleSupervisor)
		e.must(e.call("GET", "/api/v1/me", a2, nil), 200) // provisions agent-2
		e.must(e.call("POST", "/api/v1/conversations/"+conv+"/accept", a1, nil), 200)

		// Another agent can neither read, write, transfer nor close it.
		for _, c := range []struct{ m, p string }{
			{"GET", "/conversations/" + conv}, {"GET", "/conversations/" + conv + "/messages"},
			{"POST", "/conversations/" + conv + "/close"},
		} {
			if r := e.call(c.m, "/api/v1"+c.p, a2, nil); r.status != 403 {
				t.Errorf("agent-2 %s %s: %d", c.m, c.p, r.status)
			}
		}
		if r := e.call("POST", "/api/v1/conversations/"+conv+"/messages", a2, map[string]any{"client_msg_id": "z", "body": "hi"}); r.status != 403 {
			t.Errorf("agent-2 send: %d %s", r.status, r.body)
		}
		if r := e.call("POST", "/api/v1/conversations/"+conv+"/transfer", a2, map[string]any{"agent_id": "agent-2"}); r.status != 403 {
			t.Errorf("agent-2 transfer: %d %s", r.status, r.body)
		}
		// Agents and visitors cannot use supervisor/admin routes.
		for _, tok := range []string{a1, s.Token} {
			if r := e.call("GET", "/api/v1/agents", tok, nil); r.status != 403 {
				t.Errorf("list agents: %d", r.status)
			}
			if r := e.call("POST", "/api/v1/channels", tok, map[string]any{"type": "web_widget", "name": "x", "allowed_origins": []string{}}); r.status != 403 {
				t.Errorf("create channel: %d", r.status)
			}
		}
		if r := e.call("POST", "/api/v1/agents", sup, map[string]any{"name": "X", "email": "x@example.com"}); r.status != 403 {
			t.Errorf("supervisor created an agent: %d", r.status)
		}
		// The assignee transfers to agent-2; agent-1 then loses access.
		var tr chorus.Conversation
		e.must(e.call("POST", "/api/v1/conversations/"+conv+"/transfer", a1, map[string]any{"agent_id": "agent-2"}), 200).json(t, &tr)
		if *tr.AssigneeID != "agent-2" || tr.Status != "active" {
			t.Fatalf("transfer = %+v", tr)
		}
		if r := e.call("GET", "/api/v1/conversations/"+conv, a1, nil); r.status != 403 {
			t.Errorf("old assignee still reads: %d", r.status)
		}
		if r := e.call("POST", "/api/v1/conversations/"+conv+"/transfer", a2, map[string]any{"agent_id": "ghost"}); r.status != 400 {
			t.Errorf("transfer to unknown agent: %d %s", r.status, r.body)
		}
		if r := e.call("POST", "/api/v1/conversations/"+conv+"/transfer", a2, map[string]any{}); r.status != 400 {
			t.Errorf("empty transfer: %d", r.status)
		}
		// The supervisor sends a team transfer: back to the queue.
		e.must(e.call("POST", "/api/v1/conversations/"+conv+"/transfer", sup, map[string]any{"team_id": "billing"}), 200).json(t, &tr)
		if tr.Status != "queued" || tr.AssigneeID != nil || tr.TeamID == nil || *tr.TeamID != "billing" {
			t.Fatalf("team transfer = %+v", tr)
		}
		// The admin sees it in the audit log.
		var audit struct{ Items []chorus.AuditEntry }
		e.must(e.call("GET", "/api/v1/audit", admin, nil), 200).json(t, &audit)
		actions := []string{}
		for _, a := range audit.Items {
			actions = append(actions, a.Action)
		}
		if !strings.Contains(strings.Join(actions, ","), "conversation.transfer") || !strings.Contains(strings.Join(actions, ","), "channel.create") {
			t.Errorf("audit = %v", actions)
		}
		// Lists: an agent sees its own and the queue; filters; cursor paging.
		for i := 0; i < 5; i++ {
			e.visitor(key)
		}
		var page struct {
			Items      []chorus.Conversation
			NextCursor string `json:"next_cursor"`
		}
		seen := map[string]bool{}
		cursor := ""
		for n := 0; n < 10; n++ {
			e.must(e.call("GET", "/api/v1/conversations?limit=2&status=queued&cursor="+cursor, a1, nil), 200).json(t, &page)
			for _, c := range page.Items {
				if seen[c.ID] || c.Status != "queued" {
					t.Fatalf("paging repeated or wrong status: %+v", c)
				}
				seen[c.ID] = true
			}
			if page.NextCursor == "" {
				break
			}
			cursor = page.NextCursor
		}
		if len(seen) != 6 {
			t.Errorf("paged through %d queued conversations, want 6", len(seen))
		}
		if r := e.call("GET", "/api/v1/conversations?status=bogus", a1, nil); r.status != 400 {
			t.Errorf("bad status filter: %d", r.status)
		}
		// Availability.
		var ag chorus.Agent
		e.must(e.call("PUT", "/api/v1/agents/me/status", a1, map[string]any{"status": "online"}), 200).json(t, &ag)
		if ag.Status != "online" || ag.ID != "agent-1" {
			t.Errorf("status = %+v", ag)
		}
		if r := e.call("PUT", "/api/v1/agents/me/status", a1, map[string]any{"status": "asleep"}); r.status != 400 {
			t.Errorf("bad status: %d", r.status)
		}
		if r := e.call("PUT", "/api/v1/agents/me/status", s.Token, map[string]any{"status": "online"}); r.status != 403 {
			t.Errorf("visitor status: %d", r.status)
		}
		var agents struct{ Items []chorus.Agent }
		e.must(e.call("GET", "/api/v1/agents", sup, nil), 200).json(t, &agents)
		if len(agents.Items) < 3 {
			t.Errorf("agents = %+v", agents.Items)
		}
	})
}
