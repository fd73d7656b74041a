package storetest

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/enkisys/chorus/internal/chorus"
)

func testSettings(t *testing.T, s chorus.Store) {
	w := seed(t, s)
	other := seed(t, s)
	ctx := context.Background()
	_, err := s.SettingGet(ctx, w.tenant, "routing")
	wantCode(t, err, chorus.ENOTFOUND, "SettingGet never set")

	must(t, s.SettingPut(ctx, w.tenant, "routing", []byte(`{"strategy":"least_busy","queue_timeout_seconds":300}`)), "SettingPut")
	must(t, s.SettingPut(ctx, w.tenant, "routing", []byte(`{"strategy":"round_robin"}`)), "SettingPut replace")
	must(t, s.SettingPut(ctx, w.tenant, "retention", []byte(`{"retention_days":30}`)), "SettingPut other name")
	got, err := s.SettingGet(ctx, w.tenant, "routing")
	must(t, err, "SettingGet")
	var doc map[string]any
	must(t, json.Unmarshal(got, &doc), "decode setting")
	if len(doc) != 1 || doc["strategy"] != "round_robin" {
		t.Errorf("SettingGet after replace = %s, want {\"strategy\":\"round_robin\"}", got)
	}

	// Tenants never see each other's settings.
	_, err = s.SettingGet(ctx, other.tenant, "routing")
	wantCode(t, err, chorus.ENOTFOUND, "SettingGet of another tenant's setting")

	for _, bad := range []string{`[1,2]`, `"x"`, `null`, `{`, ``} {
		err := s.SettingPut(ctx, w.tenant, "routing", []byte(bad))
		wantCode(t, err, chorus.EINVALID, "SettingPut "+bad)
	}
	got, err = s.SettingGet(ctx, w.tenant, "routing")
	must(t, err, "SettingGet after refused puts")
	if string(got) == "" || !json.Valid(got) {
		t.Errorf("a refused put changed the setting: %q", got)
	}
	err = s.SettingPut(ctx, "no-such-tenant", "routing", []byte(`{}`))
	if err == nil {
		t.Errorf("SettingPut for a tenant that does not exist succeeded")
	}
}

// testOutboxConversationChange checks the payload of conversation events:
// the kind given by the transition, its actor, and the state before.
func testOutboxConversationChange(t *testing.T, s chorus.Store) {
	w := seed(t, s)
	ctx := context.Background()
	c := w.conv(t, chorus.StatusQueued, nil, at(1))
	actor := &chorus.Actor{Type: chorus.SenderAgent, ID: "ann"}
	_, err := s.ConversationTransition(ctx, w.tenant, c.ID, chorus.Transition{
		From: []string{chorus.StatusQueued}, To: chorus.StatusActive, AssigneeID: ptr("ann"), At: at(2),
		Event: chorus.OutboxConversationAssigned, Actor: actor})
	must(t, err, "assign")
	_, err = s.ConversationTransition(ctx, w.tenant, c.ID, chorus.Transition{
		From: []string{chorus.StatusActive}, To: chorus.StatusClosed, AssigneeID: ptr("ann"), At: at(3),
		Event: chorus.OutboxConversationClosed})
	must(t, err, "close")
	all, err := s.OutboxFetch(ctx, 100)
	must(t, err, "OutboxFetch")
	var changes []chorus.OutboxEvent
	for _, e := range all {
		if e.TenantID == w.tenant && e.Kind != chorus.OutboxMessageCreated {
			changes = append(changes, e)
		}
	}
	if len(changes) != 3 {
		t.Fatalf("conversation outbox rows = %d, want 3 (created, assigned, closed)", len(changes))
	}
	decode := func(e chorus.OutboxEvent) chorus.ConversationChange {
		var ch chorus.ConversationChange
		must(t, json.Unmarshal(e.Payload, &ch), "decode ConversationChange "+string(e.Payload))
		return ch
	}
	created, assigned, closed := decode(changes[0]), decode(changes[1]), decode(changes[2])
	if changes[0].Kind != chorus.OutboxConversationCreated || created.Event != chorus.OutboxConversationCreated ||
		created.Conversation.ID != c.ID || created.Conversation.Status != chorus.StatusQueued {
		t.Errorf("created row = %s %s", changes[0].Kind, changes[0].Payload)
	}
	if changes[1].Kind != chorus.OutboxConversationAssigned || assigned.Event != chorus.OutboxConversationAssigned ||
		assigned.Actor == nil || *assigned.Actor != *actor || assigned.FromStatus != chorus.StatusQueued ||
		assigned.FromAssigneeID != nil || assigned.Conversation.Status != chorus.StatusActive ||
		assigned.Conversation.AssigneeID == nil || *assigned.Conversation.AssigneeID != "ann" {
		t.Errorf("assigned row = %s %s", changes[1].Kind, changes[1].Payload)
	}
	if changes[2].Kind != chorus.OutboxConversationClosed || closed.Actor != nil || closed.FromStatus != chorus.StatusActive ||
		closed.FromAssigneeID == nil || *closed.FromAssigneeID != "ann" || closed.Conversation.Status != chorus.StatusClosed ||
		closed.Conversation.ClosedAt == nil {
		t.Errorf("closed row = %s %s", changes[2].Kind, changes[2].Payload)
	}
}
