package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/enkisys/chorus/internal/chorus"
)

func testOutbox(t *testing.T, s chorus.Store) {
	w := seed(t, s)
	other := seed(t, s)
	ctx := context.Background()
	ev, err := s.OutboxFetch(ctx, 10)
	must(t, err, "OutboxFetch empty")
	if len(ev) != 0 {
		t.Fatalf("fresh store has %d outbox rows", len(ev))
	}
	c := w.conv(t, chorus.StatusQueued, nil, at(1))                       // conversation.created
	oc := other.conv(t, chorus.StatusQueued, nil, at(1))                  // conversation.created (other tenant)
	m := w.send(t, c.ID, chorus.SenderVisitor, w.contact.ID, "c1", at(2)) // message.created
	_, err = s.ConversationTransition(ctx, w.tenant, c.ID, chorus.Transition{
		From: []string{chorus.StatusQueued}, To: chorus.StatusActive, AssigneeID: ptr("ann"), At: at(3)}) // conversation.updated
	must(t, err, "transition")
	om := other.send(t, oc.ID, chorus.SenderVisitor, other.contact.ID, "c1", at(4)) // message.created (other tenant)

	type row struct{ tenant, kind, id string }
	want := []row{
		{w.tenant, chorus.OutboxConversationCreated, c.ID},
		{other.tenant, chorus.OutboxConversationCreated, oc.ID},
		{w.tenant, chorus.OutboxMessageCreated, m.ID},
		{w.tenant, chorus.OutboxConversationUpdated, c.ID},
		{other.tenant, chorus.OutboxMessageCreated, om.ID},
	}
	all, err := s.OutboxFetch(ctx, 100)
	must(t, err, "OutboxFetch")
	if len(all) != len(want) {
		t.Fatalf("outbox rows = %d, want %d", len(all), len(want))
	}
	for i, e := range all {
		wantEvent(t, e, want[i].tenant, want[i].kind, want[i].id)
		if i > 0 && e.ID <= all[i-1].ID {
			t.Errorf("outbox not oldest first: id %d after %d", e.ID, all[i-1].ID)
		}
	}
	// The message payload carries what the worker needs.
	var pm struct {
		ID             string `json:"id"`
		ConversationID string `json:"conversation_id"`
		Seq            int64  `json:"seq"`
	}
	must(t, json.Unmarshal(all[2].Payload, &pm), "decode message payload")
	if pm.ID != m.ID || pm.ConversationID != c.ID || pm.Seq != 1 {
		t.Errorf("message.created payload = %s", all[2].Payload)
	}

	first, err := s.OutboxFetch(ctx, 2)
	must(t, err, "OutboxFetch limit 2")
	if len(first) != 2 || first[0].ID != all[0].ID || first[1].ID != all[1].ID {
		t.Fatalf("OutboxFetch limit 2 = %v, want the two oldest", first)
	}
	must(t, s.OutboxDelete(ctx, []int64{first[0].ID, first[1].ID}), "OutboxDelete")
	rest, err := s.OutboxFetch(ctx, 100)
	must(t, err, "OutboxFetch after delete")
	if len(rest) != 3 || rest[0].ID != all[2].ID {
		t.Errorf("after delete: %d rows starting at %v, want 3 starting at %d", len(rest), rest, all[2].ID)
	}
	// Deleting unknown or already deleted ids, or nothing, is not an error.
	must(t, s.OutboxDelete(ctx, []int64{first[0].ID, 999999}), "OutboxDelete unknown")
	must(t, s.OutboxDelete(ctx, nil), "OutboxDelete nothing")
	must(t, s.OutboxDelete(ctx, []int64{all[2].ID, all[3].ID, all[4].ID}), "OutboxDelete rest")
	if n := outboxCount(t, s); n != 0 {
		t.Errorf("outbox rows after deleting all = %d", n)
	}
}

// testOutboxDrain: a drain hands the oldest rows in order and deletes just
// the ids its function returns; the rest come back on the next drain.
func testOutboxDrain(t *testing.T, s chorus.Store) {
	w := seed(t, s)
	ctx := context.Background()
	none := func([]chorus.OutboxEvent) []int64 { t.Error("drain of an empty outbox called fn"); return nil }
	if n, err := s.OutboxDrain(ctx, 10, none); err != nil || n != 0 {
		t.Fatalf("empty drain = %d, %v", n, err)
	}
	c := w.conv(t, chorus.StatusActive, ptr("ann"), at(1))
	for i := range 4 {
		w.send(t, c.ID, chorus.SenderVisitor, w.contact.ID, fmt.Sprintf("c%d", i), at(2+i))
	}
	all, err := s.OutboxFetch(ctx, 100)
	must(t, err, "OutboxFetch")
	if len(all) != 5 {
		t.Fatalf("outbox rows = %d, want 5", len(all))
	}
	// The first drain takes three and reports two done (the third failed).
	var handed []chorus.OutboxEvent
	n, err := s.OutboxDrain(ctx, 3, func(evs []chorus.OutboxEvent) []int64 {
		handed = evs
		return []int64{evs[0].ID, evs[1].ID}
	})
	must(t, err, "OutboxDrain")
	if n != 3 || len(handed) != 3 || handed[0].ID != all[0].ID || handed[2].ID != all[2].ID {
		t.Fatalf("drain = %d, handed %v; want the three oldest", n, handed)
	}
	wantEvent(t, handed[0], w.tenant, chorus.OutboxConversationCreated, c.ID)
	n, err = s.OutboxDrain(ctx, 10, func(evs []chorus.OutboxEvent) []int64 {
		handed = evs
		ids := make([]int64, len(evs))
		for i, e := range evs {
			ids[i] = e.ID
		}
		return ids
	})
	must(t, err, "OutboxDrain rest")
	if n != 3 || handed[0].ID != all[2].ID {
		t.Fatalf("second drain = %d from id %d, want 3 from the undone id %d", n, handed[0].ID, all[2].ID)
	}
	if m := outboxCount(t, s); m != 0 {
		t.Errorf("outbox rows after draining all = %d", m)
	}
}

func testAudit(t *testing.T, s chorus.Store) {
	w := seed(t, s)
	other := seed(t, s)
	ctx := context.Background()
	actor := chorus.Actor{Type: chorus.SenderAgent, ID: "admin-1"}
	for i := range 5 {
		e := chorus.AuditEntry{Actor: actor, Action: fmt.Sprintf("action.%d", i), TargetType: "agent",
			TargetID: fmt.Sprintf("a%d", i), Details: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i)), CreatedAt: at(i)}
		must(t, s.AuditAppend(ctx, w.tenant, e), "AuditAppend")
		must(t, s.AuditAppend(ctx, other.tenant, chorus.AuditEntry{Actor: actor, Action: "other", CreatedAt: at(i)}), "AuditAppend other")
	}
	all, err := s.AuditList(ctx, w.tenant, 0, 100)
	must(t, err, "AuditList")
	if len(all) != 5 {
		t.Fatalf("AuditList = %d entries, want 5", len(all))
	}
	for i, e := range all {
		n := 4 - i
		if e.Action != fmt.Sprintf("action.%d", n) || e.TenantID != w.tenant || e.Actor != actor ||
			e.TargetType != "agent" || e.TargetID != fmt.Sprintf("a%d", n) || e.ID <= 0 {
			t.Errorf("entry %d = %+v", i, e)
		}
		eqTime(t, "audit created_at", e.CreatedAt, at(n))
		var d struct{ N int }
		if err := json.Unmarshal(e.Details, &d); err != nil || d.N != n {
			t.Errorf("entry %d details = %s", i, e.Details)
		}
		if i > 0 && e.ID >= all[i-1].ID {
			t.Errorf("not newest first: id %d after %d", e.ID, all[i-1].ID)
		}
	}
	page, err := s.AuditList(ctx, w.tenant, 0, 2)
	must(t, err, "AuditList page 1")
	if len(page) != 2 || page[0].ID != all[0].ID || page[1].ID != all[1].ID {
		t.Fatalf("page 1 = %v", page)
	}
	page, err = s.AuditList(ctx, w.tenant, page[1].ID, 2)
	must(t, err, "AuditList page 2")
	if len(page) != 2 || page[0].ID != all[2].ID || page[1].ID != all[3].ID {
		t.Fatalf("page 2 = %v", page)
	}
	page, err = s.AuditList(ctx, w.tenant, page[1].ID, 2)
	must(t, err, "AuditList page 3")
	if len(page) != 1 || page[0].ID != all[4].ID {
		t.Fatalf("page 3 = %v", page)
	}
	// Entries without details; another tenant sees only its own.
	must(t, s.AuditAppend(ctx, w.tenant, chorus.AuditEntry{Actor: actor, Action: "bare", CreatedAt: at(9)}), "AuditAppend bare")
	page, err = s.AuditList(ctx, w.tenant, 0, 1)
	must(t, err, "AuditList bare")
	if len(page) != 1 || page[0].Action != "bare" || (len(page[0].Details) != 0 && string(page[0].Details) != "null") {
		t.Errorf("bare entry = %+v", page)
	}
	others, err := s.AuditList(ctx, other.tenant, 0, 100)
	must(t, err, "AuditList other")
	if len(others) != 5 {
		t.Errorf("other tenant sees %d entries, want its 5", len(others))
	}
	for _, e := range others {
		if e.Action != "other" || e.TenantID != other.tenant {
			t.Errorf("other tenant sees %+v", e)
		}
	}
}
