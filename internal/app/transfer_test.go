package app

import (
	"testing"
	"time"

	"github.com/enkisys/chorus/internal/chorus"
)

// TestAgentStreamFollowsAssignment: the agent stream carries a
// conversation's messages while it is assigned to the agent, and stops
// after a transfer, when the new assignee's stream starts carrying them.
func TestAgentStreamFollowsAssignment(t *testing.T) {
	engines(t, func(t *testing.T, e *env) {
		_, key := e.setupTenant()
		a1 := e.token("agent-1", chorus.RoleAgent)
		a2 := e.token("agent-2", chorus.RoleAgent)
		stream1 := e.mustDial("/ws/v1/agent", a1)
		stream2 := e.mustDial("/ws/v1/agent", a2)
		s := e.visitor(key)
		conv := s.Conversation.ID
		visitor := e.mustDial("/ws/v1/conversations/"+conv, s.Token)

		// Both agents see the conversation arrive in the queue, at position 1.
		for _, st := range []*wsConn{stream1, stream2} {
			if q := st.next("queue"); num(q["position"]) != 1 || q["conversation"].(map[string]any)["id"] != conv {
				t.Fatalf("queue frame %v", q)
			}
		}
		e.must(e.call("POST", "/api/v1/conversations/"+conv+"/accept", a1, nil), 200)
		isActive := func(f map[string]any) bool { return f["conversation"].(map[string]any)["status"] == "active" }
		stream1.nextWhere("conversation", isActive)
		time.Sleep(100 * time.Millisecond) // the stream subscribes after the event

		visitor.send(map[string]any{"type": "message.send", "client_msg_id": "v1", "body": "first"})
		visitor.next("message.ack")
		if m := stream1.next("message"); msgOf(m)["body"] != "first" {
			t.Fatalf("agent-1 got %v", m)
		}

		// Transfer to agent-2: agent-2's stream follows, agent-1's stops.
		e.must(e.call("POST", "/api/v1/conversations/"+conv+"/transfer", a1, map[string]any{"agent_id": "agent-2"}), 200)
		stream2.nextWhere("conversation", func(f map[string]any) bool {
			c := f["conversation"].(map[string]any)
			return c["assignee_id"] == "agent-2"
		})
		stream1.nextWhere("conversation", func(f map[string]any) bool {
			return f["conversation"].(map[string]any)["assignee_id"] == "agent-2"
		})
		// The streams follow and unfollow asynchronously after the event;
		// give them time before asserting that agent-1 hears nothing more.
		time.Sleep(500 * time.Millisecond)
		visitor.send(map[string]any{"type": "message.send", "client_msg_id": "v2", "body": "second"})
		visitor.next("message.ack")
		if m := stream2.next("message"); msgOf(m)["body"] != "second" {
			t.Fatalf("agent-2 got %v", m)
		}
		stream1.none("message", 300*time.Millisecond)
		// agent-2 answers on its stream; agent-1 can no longer write.
		stream2.send(map[string]any{"type": "message.send", "conversation_id": conv, "client_msg_id": "a2", "body": "agent two here"})
		stream2.next("message.ack")
		if m := visitor.next("message"); msgOf(m)["body"] != "agent two here" {
			t.Fatalf("visitor got %v", m)
		}
		stream1.send(map[string]any{"type": "message.send", "conversation_id": conv, "client_msg_id": "a1", "body": "still me?"})
		if f := stream1.next("error"); f["code"] != "forbidden" {
			t.Fatalf("old assignee's send: %v", f)
		}
	})
}
