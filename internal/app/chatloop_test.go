package app

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/enkisys/chorus/internal/chorus"
)

// TestChatLoop walks the whole loop a user sees: a visitor opens the widget,
// an agent takes the conversation, both chat over sockets and REST with
// receipts and typing, and the conversation closes.
func TestChatLoop(t *testing.T) {
	engines(t, func(t *testing.T, e *env) {
		_, key := e.setupTenant()
		s := e.visitor(key)
		if s.Conversation.Status != chorus.StatusQueued || s.TenantID != e.tenant {
			t.Fatalf("session = %+v", s)
		}
		conv := s.Conversation.ID
		agentTok := e.token("agent-1", chorus.RoleAgent)

		// The agent's stream is open before the visitor speaks.
		agent := e.mustDial("/ws/v1/agent", agentTok)
		visitor := e.mustDial("/ws/v1/conversations/"+conv, s.Token, "Origin", "https://shop.example")

		// The queue shows the conversation; the agent accepts it.
		var q struct {
			Items []struct {
				Conversation chorus.Conversation `json:"conversation"`
				Position     int                 `json:"position"`
			} `json:"items"`
		}
		e.must(e.call("GET", "/api/v1/queue", agentTok, nil), 200).json(t, &q)
		if len(q.Items) != 1 || q.Items[0].Conversation.ID != conv || q.Items[0].Position != 1 {
			t.Fatalf("queue = %+v", q)
		}
		var accepted chorus.Conversation
		e.must(e.call("POST", "/api/v1/conversations/"+conv+"/accept", agentTok, nil), 200).json(t, &accepted)
		if accepted.Status != chorus.StatusActive || accepted.AssigneeID == nil || *accepted.AssigneeID != "agent-1" {
			t.Fatalf("accepted = %+v", accepted)
		}
		// Accepting twice, or by another agent, is a conflict.
		if r := e.call("POST", "/api/v1/conversations/"+conv+"/accept", e.token("agent-2", chorus.RoleAgent), nil); r.status != 409 {
			t.Fatalf("second accept: %d %s", r.status, r.body)
		}
		visitor.nextWhere("conversation", func(f map[string]any) bool {
			return f["conversation"].(map[string]any)["status"] == "active"
		})
		agent.nextWhere("conversation", func(f map[string]any) bool {
			return f["conversation"].(map[string]any)["status"] == "active"
		})

		// Visitor → agent over the socket.
		visitor.send(map[string]any{"type": "message.send", "client_msg_id": "v-1", "body": "  Hello, my order is late  "})
		ack := visitor.next("message.ack")
		if ack["client_msg_id"] != "v-1" || msgOf(ack)["seq"].(float64) != 1 || msgOf(ack)["body"] != "Hello, my order is late" {
			t.Fatalf("ack = %v", ack)
		}
		got := agent.next("message")
		if msgOf(got)["body"] != "Hello, my order is late" || msgOf(got)["sender_type"] != "visitor" || msgOf(got)["sender_id"] != s.Contact.ID {
			t.Fatalf("agent got %v", got)
		}
		// The agent's socket received it: the visitor sees "delivered".
		rc := visitor.nextWhere("receipt", func(f map[string]any) bool { return f["kind"] == "delivered" })
		if num(rc["seq"]) != 1 || rc["actor"].(map[string]any)["id"] != "agent-1" {
			t.Fatalf("receipt = %v", rc)
		}

		// Typing both ways, never echoed to the typist.
		agent.send(map[string]any{"type": "typing", "conversation_id": conv, "active": true})
		ty := visitor.next("typing")
		if ty["active"] != true || ty["actor"].(map[string]any)["type"] != "agent" {
			t.Fatalf("typing = %v", ty)
		}
		visitor.send(map[string]any{"type": "typing", "active": true})
		if ty := agent.next("typing"); ty["actor"].(map[string]any)["id"] != s.Contact.ID {
			t.Fatalf("typing = %v", ty)
		}

		// Agent → visitor over the agent stream.
		agent.send(map[string]any{"type": "message.send", "conversation_id": conv, "client_msg_id": "a-1", "body": "Let me check."})
		if a := agent.next("message.ack"); num(msgOf(a)["seq"]) != 2 {
			t.Fatalf("agent ack = %v", a)
		}
		if m := visitor.next("message"); msgOf(m)["body"] != "Let me check." || num(msgOf(m)["seq"]) != 2 {
			t.Fatalf("visitor got %v", m)
		}
		// The visitor reads it: the agent sees "read".
		visitor.send(map[string]any{"type": "read", "seq": 2})
		rr := agent.nextWhere("receipt", func(f map[string]any) bool { return f["kind"] == "read" })
		if num(rr["seq"]) != 2 || rr["actor"].(map[string]any)["type"] != "visitor" {
			t.Fatalf("read receipt = %v", rr)
		}

		// REST send, and an idempotent retry that returns the same message.
		r1 := e.must(e.call("POST", "/api/v1/conversations/"+conv+"/messages", agentTok, map[string]any{"client_msg_id": "a-2", "body": "Found it"}), 201)
		r2 := e.must(e.call("POST", "/api/v1/conversations/"+conv+"/messages", agentTok, map[string]any{"client_msg_id": "a-2", "body": "Found it"}), 200)
		var m1, m2 chorus.Message
		r1.json(t, &m1)
		r2.json(t, &m2)
		if m1.ID != m2.ID || m1.Seq != 3 {
			t.Fatalf("retry gave %+v then %+v", m1, m2)
		}
		if m := visitor.next("message"); num(msgOf(m)["seq"]) != 3 {
			t.Fatalf("visitor got %v", m)
		}
		// A socket retry of a REST-sent id is acknowledged with the stored message.
		agent.send(map[string]any{"type": "message.send", "conversation_id": conv, "client_msg_id": "a-2", "body": "Found it"})
		if a := agent.next("message.ack"); msgOf(a)["id"] != m1.ID {
			t.Fatalf("retry ack = %v", a)
		}

		// History with after_seq and limit; read over REST.
		var hist struct{ Items []chorus.Message }
		e.must(e.call("GET", "/api/v1/conversations/"+conv+"/messages?after_seq=1&limit=1", s.Token, nil), 200).json(t, &hist)
		if len(hist.Items) != 1 || hist.Items[0].Seq != 2 {
			t.Fatalf("history = %+v", hist)
		}
		e.must(e.call("POST", "/api/v1/conversations/"+conv+"/read", agentTok, map[string]any{"seq": 1}), 204)
		var all struct{ Items []chorus.Message }
		e.must(e.call("GET", "/api/v1/conversations/"+conv+"/messages", agentTok, nil), 200).json(t, &all)
		if len(all.Items) != 3 || all.Items[0].ReadAt == nil || all.Items[1].ReadAt == nil || all.Items[0].DeliveredAt == nil {
			t.Fatalf("receipts not recorded on messages: %+v", all.Items)
		}

		// The visitor closes; both sides see it; sending is then a conflict,
		// but a retry of an earlier id is still answered.
		var closed chorus.Conversation
		e.must(e.call("POST", "/api/v1/conversations/"+conv+"/close", s.Token, nil), 200).json(t, &closed)
		if closed.Status != chorus.StatusClosed || closed.ClosedAt == nil {
			t.Fatalf("closed = %+v", closed)
		}
		agent.nextWhere("conversation", func(f map[string]any) bool {
			return f["conversation"].(map[string]any)["status"] == "closed"
		})
		agent.none("conversation", 300*time.Millisecond) // once, though it follows the conversation too
		visitor.send(map[string]any{"type": "message.send", "client_msg_id": "v-2", "body": "one more"})
		if f := visitor.next("error"); f["code"] != "conflict" || f["client_msg_id"] != "v-2" {
			t.Fatalf("error = %v", f)
		}
		visitor.send(map[string]any{"type": "message.send", "client_msg_id": "v-1", "body": "Hello, my order is late"})
		if a := visitor.next("message.ack"); num(msgOf(a)["seq"]) != 1 {
			t.Fatalf("idempotent ack after close = %v", a)
		}
		if r := e.call("POST", "/api/v1/conversations/"+conv+"/messages", agentTok, map[string]any{"client_msg_id": "a-9", "body": "x"}); r.status != 409 {
			t.Fatalf("send to closed: %d %s", r.status, r.body)
		}
		if r := e.call("POST", "/api/v1/conversations/"+conv+"/close", agentTok, nil); r.status != 409 {
			t.Fatalf("close twice: %d", r.status)
		}
		// The path is observable: bus lag and delivery latency were recorded.
		m := metrics(t, e)
		for _, name := range []string{"chorus_bus_lag_seconds_count", "chorus_ws_delivery_seconds_count", "chorus_message_persist_seconds_count"} {
			if !regexp.MustCompile(`(?m)^` + name + ` [1-9]`).MatchString(m) {
				t.Errorf("%s not recorded", name)
			}
		}
		// Each engine shows its write path: SQLite its group commits,
		// PostgreSQL its pool.
		want := []string{"chorus_sqlite_transactions_total", "chorus_sqlite_writes_total"}
		if strings.HasSuffix(t.Name(), "/postgres") {
			want = []string{"chorus_db_pool_total_conns", "chorus_db_pool_acquire_wait_seconds_total"}
		}
		for _, name := range want {
			if !regexp.MustCompile(`(?m)^` + name + ` [0-9]`).MatchString(m) {
				t.Errorf("%s missing", name)
			}
		}
	})
}

// TestResumeBurst drops the visitor's socket in the middle of a burst of
// 1,000 messages and reconnects with after_seq: every acknowledged message
// arrives exactly once, in order.
func TestResumeBurst(t *testing.T) {
	engines(t, func(t *testing.T, e *env) {
		_, key := e.setupTenant()
		s := e.visitor(key)
		conv := s.Conversation.ID
		agentTok := e.token("agent-1", chorus.RoleAgent)
		e.must(e.call("POST", "/api/v1/conversations/"+conv+"/accept", agentTok, nil), 200)
		agent := e.mustDial("/ws/v1/conversations/"+conv, agentTok)
		visitor := e.mustDial("/ws/v1/conversations/"+conv, s.Token)

		const total = 1000
		acked := make(chan int64, total)
		go func() {
			for i := 1; i <= total; i++ {
				agent.send(map[string]any{"type": "message.send", "client_msg_id": fmt.Sprintf("m-%d", i), "body": fmt.Sprintf("message %d", i)})
			}
		}()
		go func() {
			for f := range agent.frames {
				if f["type"] == "message.ack" {
					acked <- num(msgOf(f)["seq"])
				}
			}
		}()

		seen := map[int64]int{}
		var last int64
		// First socket: read about a third of the burst, then drop it.
		for last < total/3 {
			f := visitor.next("message")
			seq := num(msgOf(f)["seq"])
			seen[seq]++
			if seq != last+1 {
				t.Fatalf("first socket: seq %d after %d", seq, last)
			}
			last = seq
		}
		_ = visitor.c.Close()
		time.Sleep(50 * time.Millisecond)

		// Reconnect with after_seq and read to the end, as a client does: a
		// socket that falls behind the burst may be closed as a slow
		// consumer, and is resumed the same way.
		v2 := e.mustDial(fmt.Sprintf("/ws/v1/conversations/%s?after_seq=%d", conv, last), s.Token)
		deadline := time.After(60 * time.Second)
		for last < total {
			select {
			case f, ok := <-v2.frames:
				if !ok {
					t.Logf("socket closed at seq %d (%v): resuming", last, <-v2.closed)
					v2 = e.mustDial(fmt.Sprintf("/ws/v1/conversations/%s?after_seq=%d", conv, last), s.Token)
					continue
				}
				if f["type"] != "message" {
					continue
				}
				seq := num(msgOf(f)["seq"])
				if seq <= last {
					continue // a duplicate by seq is allowed and dropped
				}
				if seq != last+1 {
					t.Fatalf("gap: seq %d after %d", seq, last)
				}
				seen[seq]++
				last = seq
			case <-deadline:
				t.Fatalf("only %d of %d messages after 60s", last, total)
			}
		}
		var ackCount int
		timeout := time.After(30 * time.Second)
		for ackCount < total {
			select {
			case seq := <-acked:
				ackCount++
				if seen[seq] != 1 {
					t.Fatalf("acknowledged seq %d seen %d times", seq, seen[seq])
				}
			case <-timeout:
				t.Fatalf("only %d acks", ackCount)
			}
		}
		var hist struct{ Items []chorus.Message }
		e.must(e.call("GET", "/api/v1/conversations/"+conv+"/messages?after_seq=999", agentTok, nil), 200).json(t, &hist)
		if len(hist.Items) != 1 || hist.Items[0].Body != "message 1000" {
			t.Fatalf("last message = %+v", hist.Items)
		}
	})
}

// TestWidgetSessions covers the public endpoint: origins, unknown keys,
// resume tokens and bad input.
func TestWidgetSessions(t *testing.T) {
	engines(t, func(t *testing.T, e *env) {
		_, key := e.setupTenant()
		post := func(body any, origin string) resp {
			if origin == "" {
				return e.callTenant("POST", "/api/v1/widget/sessions", "", "-", body)
			}
			return e.callTenant("POST", "/api/v1/widget/sessions", "", "-", body, "Origin", origin)
		}
		if r := post(map[string]any{"widget_key": key}, "https://evil.example"); r.status != 403 || r.code() != "forbidden" {
			t.Fatalf("foreign origin: %d %s", r.status, r.body)
		}
		if r := post(map[string]any{"widget_key": "wk_nope"}, ""); r.status != 404 {
			t.Fatalf("unknown key: %d", r.status)
		}
		for _, bad := range []any{
			map[string]any{},
			map[string]any{"widget_key": key, "email": "not an email"},
			map[string]any{"widget_key": key, "name": strings.Repeat("n", 201)},
			map[string]any{"widget_key": key, "name": "a\x00b"},
			map[string]any{"widget_key": key, "metadata": map[string]string{"": "x"}},
			`{"widget_key": 5}`, `[]`, `{"widget_key":"x"} trailing`,
		} {
			if r := post(bad, ""); r.status != 400 || r.code() != "invalid_request" {
				t.Errorf("%v: %d %s", bad, r.status, r.body)
			}
		}
		var s1 session
		e.must(post(map[string]any{"widget_key": key, "name": "Ann", "email": "ann@example.com", "metadata": map[string]string{"plan": "pro"}}, "https://shop.example"), 201).json(t, &s1)
		if s1.ResumeToken == "" || s1.Contact.Email != "ann@example.com" {
			t.Fatalf("session = %+v", s1)
		}
		// Resuming returns the same open conversation and contact.
		var s2 session
		e.must(post(map[string]any{"widget_key": key, "resume_token": s1.ResumeToken}, "https://shop.example"), 201).json(t, &s2)
		if !s2.Resumed || s2.Conversation.ID != s1.Conversation.ID || s2.Contact.ID != s1.Contact.ID {
			t.Fatalf("resume = %+v", s2)
		}
		// After close, resuming starts a new conversation for the same contact.
		e.must(e.call("POST", "/api/v1/conversations/"+s1.Conversation.ID+"/close", s1.Token, nil), 200)
		var s3 session
		e.must(post(map[string]any{"widget_key": key, "resume_token": s1.ResumeToken}, ""), 201).json(t, &s3)
		if s3.Conversation.ID == s1.Conversation.ID || s3.Contact.ID != s1.Contact.ID || s3.Conversation.Status != "queued" {
			t.Fatalf("resume after close = %+v", s3)
		}
		// An unknown resume token is a new visitor.
		var s4 session
		e.must(post(map[string]any{"widget_key": key, "resume_token": "forged"}, ""), 201).json(t, &s4)
		if s4.Resumed || s4.Contact.ID == s1.Contact.ID {
			t.Fatalf("forged resume = %+v", s4)
		}
		// The visitor token reaches only its conversation.
		if r := e.call("GET", "/api/v1/conversations/"+s1.Conversation.ID, s4.Token, nil); r.status != 404 {
			t.Fatalf("visitor reached another conversation: %d", r.status)
		}
		if r := e.call("GET", "/api/v1/conversations", s4.Token, nil); r.status != 403 {
			t.Fatalf("visitor listed conversations: %d", r.status)
		}
		var me Me
		e.must(e.call("GET", "/api/v1/me", s4.Token, nil), 200).json(t, &me)
		if me.Type != "visitor" || me.ConversationID != s4.Conversation.ID {
			t.Fatalf("me = %+v", me)
		}
	})
}

// Me mirrors chat.Me for decoding.
type Me struct {
	ID             string        `json:"id"`
	Type           string        `json:"type"`
	ConversationID string        `json:"conversation_id"`
	Agent          *chorus.Agent `json:"agent"`
}
