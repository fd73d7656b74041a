// Package storetest is the conformance suite of chorus.Store: every adapter
// (sqlite, postgres) runs Run against a fresh, migrated, empty store per
// subtest, so both engines keep exactly the semantics the Store doc comments
// promise. BenchMessageCreate measures the hot path the same way for both.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/enkisys/chorus/internal/chorus"
)

// StatusHistorian is implemented by stores that let the suite read the
// agent_availability history written by AgentSetStatus. A store that does
// not implement it skips that one assertion (and says so in the test log).
type StatusHistorian interface {
	// AgentStatusHistory returns the statuses recorded for the agent,
	// oldest first.
	AgentStatusHistory(ctx context.Context, tenantID, agentID string) ([]string, error)
}

// Run runs the conformance suite. open must return a fresh, migrated, empty
// store for the test and arrange for it to be closed (t.Cleanup).
func Run(t *testing.T, open func(t *testing.T) chorus.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s chorus.Store)
	}{
		{"Ping", testPing},
		{"TenantEnsure", testTenantEnsure},
		{"TenantGetNotFound", testTenantGetNotFound},
		{"AgentEnsureCreates", testAgentEnsureCreates},
		{"AgentEnsureIdempotentAndUpdates", testAgentEnsureUpdates},
		{"AgentEnsureUnknownTenant", testAgentEnsureUnknownTenant},
		{"AgentCreateConflicts", testAgentCreateConflicts},
		{"AgentGetCountsActive", testAgentGetCountsActive},
		{"AgentListOrder", testAgentListOrder},
		{"AgentCredentials", testAgentCredentials},
		{"AgentSetStatus", testAgentSetStatus},
		{"AgentSetPassword", testAgentSetPassword},
		{"AgentTenantIsolation", testAgentTenantIsolation},
		{"Channels", testChannels},
		{"ChannelConflicts", testChannelConflicts},
		{"ChannelTenantIsolation", testChannelTenantIsolation},
		{"Contacts", testContacts},
		{"ContactIdentities", testContactIdentities},
		{"ContactTenantIsolation", testContactTenantIsolation},
		{"ConversationCreateGet", testConversationCreateGet},
		{"ConversationCreateConflictAndMissingRefs", testConversationCreateErrors},
		{"ConversationListFilters", testConversationListFilters},
		{"ConversationListPagination", testConversationListPagination},
		{"ConversationListBadCursor", testConversationListBadCursor},
		{"ConversationTransitionCAS", testConversationTransitionCAS},
		{"ConversationTransitionTimestamps", testConversationTransitionTimestamps},
		{"ConversationTenantIsolation", testConversationTenantIsolation},
		{"QueueList", testQueueList},
		{"QueuePosition", testQueuePosition},
		{"ContactOpenConversation", testContactOpenConversation},
		{"MessageCreateSeq", testMessageCreateSeq},
		{"MessageCreateIdempotent", testMessageCreateIdempotent},
		{"MessageCreateClosed", testMessageCreateClosed},
		{"MessageCreateSenderMustBeAssignee", testMessageCreateSenderMustBeAssignee},
		{"MessageCreateConcurrent", testMessageCreateConcurrent},
		{"MessageList", testMessageList},
		{"MessageTenantIsolation", testMessageTenantIsolation},
		{"MessageMarkReceipt", testMessageMarkReceipt},
		{"MessageMarkReceiptSides", testMessageMarkReceiptSides},
		{"MessageMarkDelivered", testMessageMarkDelivered},
		{"MessageMarkReceiptErrors", testMessageMarkReceiptErrors},
		{"Outbox", testOutbox},
		{"OutboxDrain", testOutboxDrain},
		{"OutboxConversationChange", testOutboxConversationChange},
		{"Audit", testAudit},
		{"Settings", testSettings},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, open(t))
		})
	}
}

// t0 is the base time of the suite: microsecond precision, UTC, so every
// engine round-trips it exactly.
var t0 = time.Date(2026, 3, 4, 5, 6, 7, 891011000, time.UTC)

// at returns t0 plus d seconds.
func at(d int) time.Time { return t0.Add(time.Duration(d) * time.Second) }

var idCounter atomic.Int64

// newID returns an id unique within the test binary.
func newID(prefix string) string {
	return fmt.Sprintf("%s-%06d", prefix, idCounter.Add(1))
}

func ptr[T any](v T) *T { return &v }

// wantCode fails unless err is an *chorus.Error with the code.
func wantCode(t *testing.T, err error, code, what string) {
	t.Helper()
	var e *chorus.Error
	if err == nil {
		t.Fatalf("%s: got nil error, want %s", what, code)
	}
	if !errors.As(err, &e) {
		t.Fatalf("%s: got %v (%T), want *chorus.Error %s", what, err, err, code)
	}
	if e.Code != code {
		t.Fatalf("%s: got code %s (%v), want %s", what, e.Code, err, code)
	}
}

func must(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func eqTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func eqTimePtr(t *testing.T, what string, got, want *time.Time) {
	t.Helper()
	switch {
	case got == nil && want == nil:
	case got == nil || want == nil:
		t.Errorf("%s = %v, want %v", what, fmtTimePtr(got), fmtTimePtr(want))
	case !got.Equal(*want):
		t.Errorf("%s = %v, want %v", what, *got, *want)
	}
}

func fmtTimePtr(p *time.Time) string {
	if p == nil {
		return "nil"
	}
	return p.String()
}

func eqStrPtr(t *testing.T, what string, got, want *string) {
	t.Helper()
	switch {
	case got == nil && want == nil:
	case got == nil || want == nil:
		t.Errorf("%s = %v, want %v", what, fmtStrPtr(got), fmtStrPtr(want))
	case *got != *want:
		t.Errorf("%s = %q, want %q", what, *got, *want)
	}
}

func fmtStrPtr(p *string) string {
	if p == nil {
		return "nil"
	}
	return fmt.Sprintf("%q", *p)
}

// eqConversation compares every field of two conversations.
func eqConversation(t *testing.T, what string, got, want chorus.Conversation) {
	t.Helper()
	if got.ID != want.ID || got.TenantID != want.TenantID || got.ChannelID != want.ChannelID ||
		got.ContactID != want.ContactID || got.Status != want.Status || got.LastSeq != want.LastSeq {
		t.Errorf("%s: got id=%q tenant=%q channel=%q contact=%q status=%q last_seq=%d, want id=%q tenant=%q channel=%q contact=%q status=%q last_seq=%d",
			what, got.ID, got.TenantID, got.ChannelID, got.ContactID, got.Status, got.LastSeq,
			want.ID, want.TenantID, want.ChannelID, want.ContactID, want.Status, want.LastSeq)
	}
	eqStrPtr(t, what+" assignee_id", got.AssigneeID, want.AssigneeID)
	eqStrPtr(t, what+" team_id", got.TeamID, want.TeamID)
	eqTime(t, what+" created_at", got.CreatedAt, want.CreatedAt)
	eqTime(t, what+" updated_at", got.UpdatedAt, want.UpdatedAt)
	eqTimePtr(t, what+" queued_at", got.QueuedAt, want.QueuedAt)
	eqTimePtr(t, what+" assigned_at", got.AssignedAt, want.AssignedAt)
	eqTimePtr(t, what+" closed_at", got.ClosedAt, want.ClosedAt)
}

// eqMessage compares every field of two messages.
func eqMessage(t *testing.T, what string, got, want chorus.Message) {
	t.Helper()
	if got.ID != want.ID || got.TenantID != want.TenantID || got.ConversationID != want.ConversationID ||
		got.Seq != want.Seq || got.SenderType != want.SenderType || got.SenderID != want.SenderID ||
		got.Body != want.Body || got.ClientMsgID != want.ClientMsgID {
		t.Errorf("%s: got %+v, want %+v", what, got, want)
	}
	eqTime(t, what+" created_at", got.CreatedAt, want.CreatedAt)
	eqTimePtr(t, what+" delivered_at", got.DeliveredAt, want.DeliveredAt)
	eqTimePtr(t, what+" read_at", got.ReadAt, want.ReadAt)
}

// world is one tenant with a channel and a contact.
type world struct {
	s       chorus.Store
	tenant  string
	channel chorus.Channel
	contact chorus.Contact
}

// seed creates a tenant with one channel and one contact.
func seed(t *testing.T, s chorus.Store) *world {
	t.Helper()
	ctx := context.Background()
	w := &world{s: s, tenant: newID("tenant")}
	_, err := s.TenantEnsure(ctx, w.tenant, "Tenant "+w.tenant)
	must(t, err, "TenantEnsure")
	w.channel, err = s.ChannelCreate(ctx, w.tenant, chorus.Channel{
		ID: newID("chan"), Type: chorus.ChannelWebWidget, Name: "Website",
		WidgetKey: newID("wk"), AllowedOrigins: []string{"https://example.com"}, CreatedAt: t0,
	})
	must(t, err, "ChannelCreate")
	w.contact = w.newContact(t)
	return w
}

func (w *world) newContact(t *testing.T) chorus.Contact {
	t.Helper()
	c, err := w.s.ContactCreate(context.Background(), w.tenant, chorus.Contact{
		ID: newID("contact"), Name: "Visitor", Email: "visitor@example.com", CreatedAt: t0,
	})
	must(t, err, "ContactCreate")
	return c
}

// conv creates a conversation of the world's contact in the given state.
func (w *world) conv(t *testing.T, status string, assignee *string, created time.Time) chorus.Conversation {
	t.Helper()
	return w.convOf(t, w.contact.ID, status, assignee, created)
}

func (w *world) convOf(t *testing.T, contactID, status string, assignee *string, created time.Time) chorus.Conversation {
	t.Helper()
	c := chorus.Conversation{
		ID: newID("conv"), ChannelID: w.channel.ID, ContactID: contactID,
		Status: status, AssigneeID: assignee, CreatedAt: created, UpdatedAt: created,
	}
	switch status {
	case chorus.StatusQueued:
		c.QueuedAt = ptr(created)
	case chorus.StatusActive:
		c.QueuedAt = ptr(created)
		c.AssignedAt = ptr(created)
	case chorus.StatusClosed:
		c.ClosedAt = ptr(created)
	}
	got, err := w.s.ConversationCreate(context.Background(), w.tenant, c)
	must(t, err, "ConversationCreate")
	return got
}

// agent ensures an agent in the world's tenant.
func (w *world) agent(t *testing.T, id string) chorus.Agent {
	t.Helper()
	a, err := w.s.AgentEnsure(context.Background(), w.tenant, chorus.Agent{ID: id, Name: "Agent " + id, Roles: []string{chorus.RoleAgent}})
	must(t, err, "AgentEnsure")
	return a
}

// send creates a message and fails the test on error.
func (w *world) send(t *testing.T, convID, senderType, senderID, clientMsgID string, created time.Time) chorus.Message {
	t.Helper()
	m, ok, err := w.s.MessageCreate(context.Background(), w.tenant, chorus.NewMessage{
		ID: newID("msg"), ConversationID: convID, SenderType: senderType, SenderID: senderID,
		Body: "body " + clientMsgID, ClientMsgID: clientMsgID, CreatedAt: created,
	})
	must(t, err, "MessageCreate "+clientMsgID)
	if !ok {
		t.Fatalf("MessageCreate %s: created=false for a new client_msg_id", clientMsgID)
	}
	return m
}

// outboxCount returns how many outbox rows exist (the store is fresh per
// subtest, so this counts the subtest's own writes).
func outboxCount(t *testing.T, s chorus.Store) int {
	t.Helper()
	ev, err := s.OutboxFetch(context.Background(), 10000)
	must(t, err, "OutboxFetch")
	return len(ev)
}

func ids[T any](items []T, id func(T) string) []string {
	out := make([]string, 0, len(items))
	for _, it := range items {
		out = append(out, id(it))
	}
	return out
}

func convIDs(cs []chorus.Conversation) []string {
	return ids(cs, func(c chorus.Conversation) string { return c.ID })
}

func eqIDs(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func testPing(t *testing.T, s chorus.Store) {
	must(t, s.Ping(context.Background()), "Ping")
}
