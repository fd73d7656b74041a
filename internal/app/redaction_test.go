package app

import (
	"strings"
	"testing"

	"github.com/enkisys/chorus/internal/chorus"
)

// TestLogsCarryNoSecretsOrPII drives requests full of tokens, passwords,
// e-mail addresses, phone numbers and message bodies through every
// transport, at debug level, and scans the captured logs.
func TestLogsCarryNoSecretsOrPII(t *testing.T) {
	engines(t, func(t *testing.T, e *env) {
		admin, key := e.setupTenant()
		const (
			password = "Sup3r-Secret-Passw0rd"
			email    = "jane.doe+vip@example.org"
			phone    = "+1 415 555 2671"
			body     = "my card is 4111 1111 1111 1111, call me"
		)
		e.call("POST", "/api/v1/agents", admin, map[string]any{"name": "Jane " + phone, "email": email, "password": password})
		e.callTenant("POST", "/api/v1/auth/login", "", "-", map[string]any{"email": email, "password": password, "tenant_id": e.tenant})
		e.callTenant("POST", "/api/v1/auth/login", "", "-", map[string]any{"email": email, "password": password + "x", "tenant_id": e.tenant})
		var s session
		e.must(e.callTenant("POST", "/api/v1/widget/sessions", "", "-", map[string]any{
			"widget_key": key, "name": "Visitor " + phone, "email": email, "metadata": map[string]string{"phone": phone},
		}), 201).json(t, &s)
		agentTok := e.token("agent-1", chorus.RoleAgent)
		e.must(e.call("POST", "/api/v1/conversations/"+s.Conversation.ID+"/accept", agentTok, nil), 200)
		e.must(e.call("POST", "/api/v1/conversations/"+s.Conversation.ID+"/messages", s.Token, map[string]any{"client_msg_id": "c1", "body": body + " " + email}), 201)
		e.call("POST", "/api/v1/conversations/"+s.Conversation.ID+"/messages", s.Token, `{"client_msg_id":"c2","body":"`+body)
		e.call("GET", "/api/v1/me", "Bearer-garbage."+s.Token, nil)
		// Sockets with the token in the query string, and a body over the socket.
		w, _, err := e.dialTenant("/ws/v1/conversations/"+s.Conversation.ID+"?access_token="+s.Token+"&tenant_id="+e.tenant, "", "")
		if err != nil {
			t.Fatal(err)
		}
		w.next("hello")
		w.send(map[string]any{"type": "message.send", "client_msg_id": "c3", "body": body + " " + phone})
		w.next("message.ack")
		w.send(map[string]any{"type": "message.send", "client_msg_id": "c4", "body": strings.Repeat("x", 5000) + email})
		w.next("error")
		e.dialTenant("/ws/v1/conversations/"+s.Conversation.ID+"?access_token=forged."+s.Token, "", "")

		logs := e.logs.String()
		if !strings.Contains(logs, "http request") {
			t.Fatalf("no access log captured:\n%s", logs)
		}
		for name, secret := range map[string]string{
			"visitor token": s.Token, "agent token": agentTok, "admin token": admin, "password": password,
			"e-mail": email, "phone": phone, "message body": "4111 1111", "resume token": s.ResumeToken,
		} {
			if strings.Contains(logs, secret) {
				t.Errorf("the %s reached the logs", name)
			}
		}
		if strings.Contains(logs, "access_token=") && !strings.Contains(logs, "access_token=[REDACTED]") {
			t.Error("a query-string token parameter reached the logs")
		}
	})
}
