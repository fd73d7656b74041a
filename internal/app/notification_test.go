package app

import (
	"context"
	"testing"
	"time"

	"github.com/enkisys/chorus/internal/chorus"
)

// TestAgentStreamCarriesOwnNotifications: an event on an agent's own topic
// reaches every /ws/v1/agent stream of that agent, and no other agent's.
func TestAgentStreamCarriesOwnNotifications(t *testing.T) {
	engines(t, func(t *testing.T, e *env) {
		e.setupTenant()
		ann1 := e.mustDial("/ws/v1/agent", e.token("ann", chorus.RoleAgent))
		ann2 := e.mustDial("/ws/v1/agent", e.token("ann", chorus.RoleAgent))
		bob := e.mustDial("/ws/v1/agent", e.token("bob", chorus.RoleAgent))
		frame := []byte(`{"type":"notification","notification":{"id":"n1","kind":"test"}}`)
		err := e.app.bus.Publish(context.Background(), chorus.AgentTopic(e.tenant, "ann"),
			chorus.Event{Type: chorus.EventNotification, Data: frame})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []*wsConn{ann1, ann2} {
			f := s.next("notification")
			if n, _ := f["notification"].(map[string]any); n["id"] != "n1" {
				t.Fatalf("notification frame %v", f)
			}
		}
		bob.none("notification", 300*time.Millisecond)
	})
}
