package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/enkisys/chorus/internal/chorus"
)

func testConversationCreateGet(t *testing.T, s chorus.Store) {
	w := seed(t, s)
	ctx := context.Background()
	c := chorus.Conversation{ID: newID("conv"), ChannelID: w.channel.ID, ContactID: w.contact.ID,
		Status: chorus.StatusQueued, TeamID: ptr("team-1"), CreatedAt: at(1), QueuedAt: ptr(at(1)), UpdatedAt: at(1)}
	got, err := s.ConversationCreate(ctx, w.tenant, c)
	must(t, err, "ConversationCreate")
	c.TenantID = w.tenant
	eqConversation(t, "ConversationCreate", got, c)
	got, err = s.ConversationGet(ctx, w.tenant, c.ID)
	must(t, err, "ConversationGet")
	eqConversation(t, "ConversationGet", got, c)
	_, err = s.ConversationGet(ctx, w.tenant, "no-such-conv")
	wantCode(t, err, chorus.ENOTFOUND, "ConversationGet unknown")

	ev, err := s.OutboxFetch(ctx, 10)
	must(t, err, "OutboxFetch")
	if len(ev) != 1 {
		t.Fatalf("outbox has %d rows, want 1 (conversation.created)", len(ev))
	}
	wantEvent(t, ev[0], w.tenant, chorus.OutboxConversationCreated, c.ID)
}

func testConversationCreateErrors(t *testing.T, s chorus.Store) {
	w := seed(t, s)
	other := seed(t, s)
	ctx := context.Background()
	c := w.conv(t, chorus.StatusQueued, nil, at(1))
	n := outboxCount(t, s)
	dup := chorus.Conversation{ID: c.ID, ChannelID: w.channel.ID, ContactID: w.contact.ID, Status: chorus.StatusQueued, CreatedAt: at(2), UpdatedAt: at(2)}
	_, err := s.ConversationCreate(ctx, w.tenant, dup)
	wantCode(t, err, chorus.ECONFLICT, "ConversationCreate duplicate id")
	// The same id in another tenant is refused too (conversation ids are global).
	dup.ChannelID, dup.ContactID = other.channel.ID, other.contact.ID
	_, err = s.ConversationCreate(ctx, other.tenant, dup)
	wantCode(t, err, chorus.ECONFLICT, "ConversationCreate duplicate id in another tenant")
	// References to another tenant's contact or channel do not exist here.
	bad := chorus.Conversation{ID: newID("conv"), ChannelID: w.channel.ID, ContactID: other.contact.ID, Status: chorus.StatusQueued, CreatedAt: at(2), UpdatedAt: at(2)}
	_, err = s.ConversationCreate(ctx, w.tenant, bad)
	wantCode(t, err, chorus.ENOTFOUND, "ConversationCreate with another tenant's contact")
	bad.ContactID, bad.ChannelID = w.contact.ID, other.channel.ID
	_, err = s.ConversationCreate(ctx, w.tenant, bad)
	wantCode(t, err, chorus.ENOTFOUND, "ConversationCreate with another tenant's channel")
	_, err = s.ConversationGet(ctx, w.tenant, bad.ID)
	wantCode(t, err, chorus.ENOTFOUND, "ConversationGet after refused create")
	if got := outboxCount(t, s); got != n {
		t.Errorf("refused creates wrote outbox rows: %d → %d", n, got)
	}
}

func testConversationListFilters(t *testing.T, s chorus.Store) {
	w := seed(t, s)
	other := seed(t, s)
	ctx := context.Background()
	c2 := w.newContact(t)
	q1 := w.conv(t, chorus.StatusQueued, nil, at(1))
	a1 := w.conv(t, chorus.StatusActive, ptr("ann"), at(2))
	b1 := w.conv(t, chorus.StatusActive, ptr("bob"), at(3))
	x1 := w.conv(t, chorus.StatusClosed, ptr("ann"), at(4))
	q2 := w.convOf(t, c2.ID, chorus.StatusQueued, nil, at(5))
	a2 := w.convOf(t, c2.ID, chorus.StatusActive, ptr("ann"), at(6))
	other.conv(t, chorus.StatusQueued, nil, at(7))
	other.conv(t, chorus.StatusActive, ptr("ann"), at(8))

	tests := []struct {
		name string
		f    chorus.ConversationFilter
		want []chorus.Conversation
	}{
		{"all", chorus.ConversationFilter{}, []chorus.Conversation{a2, q2, x1, b1, a1, q1}},
		{"status queued", chorus.ConversationFilter{Status: chorus.StatusQueued}, []chorus.Conversation{q2, q1}},
		{"status active", chorus.ConversationFilter{Status: chorus.StatusActive}, []chorus.Conversation{a2, b1, a1}},
		{"assignee ann", chorus.ConversationFilter{AssigneeID: "ann"}, []chorus.Conversation{a2, x1, a1}},
		{"assignee ann active", chorus.ConversationFilter{AssigneeID: "ann", Status: chorus.StatusActive}, []chorus.Conversation{a2, a1}},
		{"visible to ann", chorus.ConversationFilter{VisibleTo: "ann"}, []chorus.Conversation{a2, q2, x1, a1, q1}},
		{"visible to bob", chorus.ConversationFilter{VisibleTo: "bob"}, []chorus.Conversation{q2, b1, q1}},
		{"visible to bob, active", chorus.ConversationFilter{VisibleTo: "bob", Status: chorus.StatusActive}, []chorus.Conversation{b1}},
		{"contact c2", chorus.ConversationFilter{ContactID: c2.ID}, []chorus.Conversation{a2, q2}},
		{"contact c2 queued", chorus.ConversationFilter{ContactID: c2.ID, Status: chorus.StatusQueued}, []chorus.Conversation{q2}},
		{"nobody", chorus.ConversationFilter{AssigneeID: "nobody"}, nil},
		{"limit", chorus.ConversationFilter{Limit: 2}, []chorus.Conversation{a2, q2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.f
			if f.Limit == 0 {
				f.Limit = 200
			}
			got, _, err := s.ConversationList(ctx, w.tenant, f)
			must(t, err, "ConversationList")
			eqIDs(t, "ids", convIDs(got), convIDs(tt.want))
			for i := range got {
				if i < len(tt.want) {
					eqConversation(t, "item", got[i], tt.want[i])
				}
			}
		})
	}
}

func testConversationListPagination(t *testing.T, s chorus.Store) {
	w := seed(t, s)
	ctx := context.Background()
	// 11 conversations, several sharing created_at, so the cursor must
	// break ties by id.
	var all []chorus.Conversation
	for i := range 11 {
		all = append(all, w.conv(t, chorus.StatusQueued, nil, at(i/3)))
	}
	want := slices.Clone(all)
	slices.SortFunc(want, func(a, b chorus.Conversation) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	for _, limit := range []int{1, 2, 3, 4, 11, 12} {
		var got []string
		cursor := ""
		pages := 0
		for {
			page, next, err := s.ConversationList(ctx, w.tenant, chorus.ConversationFilter{Limit: limit, Cursor: cursor})
			must(t, err, "ConversationList")
			pages++
			if len(page) > limit {
				t.Fatalf("limit %d: page of %d", limit, len(page))
			}
			got = append(got, convIDs(page)...)
			if next == "" {
				break
			}
			if len(page) == 0 {
				t.Fatalf("limit %d: empty page with a next cursor", limit)
			}
			if pages > 20 {
				t.Fatalf("limit %d: pagination does not end", limit)
			}
			cursor = next
		}
		eqIDs(t, "pages joined", got, convIDs(want))
		if wantPages := (len(want) + limit - 1) / limit; pages != wantPages {
			t.Errorf("limit %d: %d pages, want %d (no empty last page)", limit, pages, wantPages)
		}
	}
	// A cursor keeps the filters of its query.
	page, next, err := s.ConversationList(ctx, w.tenant, chorus.ConversationFilter{Limit: 5, Status: chorus.StatusActive})
	must(t, err, "ConversationList active")
	if len(page) != 0 || next != "" {
		t.Errorf("no active conversations, got %d and cursor %q", len(page), next)
	}
}

func testConversationListBadCursor(t *testing.T, s chorus.Store) {
	w := seed(t, s)
	w.conv(t, chorus.StatusQueued, nil, at(1))
	_, _, err := s.ConversationList(context.Background(), w.tenant, chorus.ConversationFilter{Limit: 10, Cursor: "%%not a cursor%%"})
	wantCode(t, err, chorus.EINVALID, "ConversationList bad cursor")
}

func testConversationTransitionCAS(t *testing.T, s chorus.Store) {
	w := seed(t, s)
	ctx := context.Background()
	c := w.conv(t, chorus.StatusQueued, nil, at(1))
	n := outboxCount(t, s)

	// Accept: queued → active.
	got, err := s.ConversationTransition(ctx, w.tenant, c.ID, chorus.Transition{
		From: []string{chorus.StatusQueued}, To: chorus.StatusActive, AssigneeID: ptr("ann"), At: at(2)})
	must(t, err, "accept")
	if got.Status != chorus.StatusActive || got.AssigneeID == nil || *got.AssigneeID != "ann" {
		t.Fatalf("after accept: %+v", got)
	}
	// A second accept loses: status is no longer queued, nothing changes.
	_, err = s.ConversationTransition(ctx, w.tenant, c.ID, chorus.Transition{
		From: []string{chorus.StatusQueued}, To: chorus.StatusActive, AssigneeID: ptr("bob"), At: at(3)})
	wantCode(t, err, chorus.ECONFLICT, "second accept")
	// Transfer by a non-assignee loses.
	_, err = s.ConversationTransition(ctx, w.tenant, c.ID, chorus.Transition{
		From: []string{chorus.StatusActive}, OnlyAssignee: "bob", To: chorus.StatusActive, AssigneeID: ptr("cy"), At: at(3)})
	wantCode(t, err, chorus.ECONFLICT, "transfer by non-assignee")
	cur, err := s.ConversationGet(ctx, w.tenant, c.ID)
	must(t, err, "ConversationGet")
	eqConversation(t, "after refused transitions", cur, got)
	if m := outboxCount(t, s); m != n+1 {
		t.Errorf("outbox grew by %d, want 1 (refused transitions write nothing)", m-n)
	}
	// Transfer by the assignee wins, with a team.
	got, err = s.ConversationTransition(ctx, w.tenant, c.ID, chorus.Transition{
		From: []string{chorus.StatusActive}, OnlyAssignee: "ann", To: chorus.StatusActive, AssigneeID: ptr("bob"), TeamID: ptr("t1"), At: at(4)})
	must(t, err, "transfer by assignee")
	eqStrPtr(t, "assignee after transfer", got.AssigneeID, ptr("bob"))
	eqStrPtr(t, "team after transfer", got.TeamID, ptr("t1"))
	// Back to the queue, without assignee (nil clears it).
	got, err = s.ConversationTransition(ctx, w.tenant, c.ID, chorus.Transition{
		From: []string{chorus.StatusQueued, chorus.StatusActive}, To: chorus.StatusQueued, At: at(5)})
	must(t, err, "requeue")
	eqStrPtr(t, "assignee after requeue", got.AssigneeID, nil)
	eqStrPtr(t, "team after requeue", got.TeamID, nil)
	// OnlyAssignee fails when there is no assignee.
	_, err = s.ConversationTransition(ctx, w.tenant, c.ID, chorus.Transition{
		From: []string{chorus.StatusQueued}, OnlyAssignee: "ann", To: chorus.StatusClosed, At: at(6)})
	wantCode(t, err, chorus.ECONFLICT, "OnlyAssignee without assignee")
	// Close, then nothing reopens it from a list that does not name closed.
	_, err = s.ConversationTransition(ctx, w.tenant, c.ID, chorus.Transition{
		From: []string{chorus.StatusQueued, chorus.StatusActive}, To: chorus.StatusClosed, At: at(7)})
	must(t, err, "close")
	_, err = s.ConversationTransition(ctx, w.tenant, c.ID, chorus.Transition{
		From: []string{chorus.StatusQueued, chorus.StatusActive}, To: chorus.StatusClosed, At: at(8)})
	wantCode(t, err, chorus.ECONFLICT, "close twice")
	_, err = s.ConversationTransition(ctx, w.tenant, "no-such-conv", chorus.Transition{
		From: []string{chorus.StatusQueued}, To: chorus.StatusClosed, At: at(8)})
	wantCode(t, err, chorus.ENOTFOUND, "transition unknown conversation")

	ev, err := s.OutboxFetch(ctx, 100)
	must(t, err, "OutboxFetch")
	var kinds []string
	for _, e := range ev[n:] {
		kinds = append(kinds, e.Kind)
		wantEvent(t, e, w.tenant, chorus.OutboxConversationUpdated, c.ID)
	}
	if len(kinds) != 4 {
		t.Errorf("conversation.updated rows = %d, want 4 (accept, transfer, requeue, close)", len(kinds))
	}
}

func testConversationTransitionTimestamps(t *testing.T, s chorus.Store) {
	w := seed(t, s)
	ctx := context.Background()
	c := w.conv(t, chorus.StatusQueued, nil, at(1))
	want := c
	step := func(name string, tr chorus.Transition) {
		t.Helper()
		got, err := s.ConversationTransition(ctx, w.tenant, c.ID, tr)
		must(t, err, name)
		eqConversation(t, name, got, want)
		stored, err := s.ConversationGet(ctx, w.tenant, c.ID)
		must(t, err, name+": ConversationGet")
		eqConversation(t, name+" (stored)", stored, want)
	}
	// Accept sets assigned_at and updated_at.
	want.Status, want.AssigneeID, want.AssignedAt, want.UpdatedAt = chorus.StatusActive, ptr("ann"), ptr(at(2)), at(2)
	step("accept", chorus.Transition{From: []string{chorus.StatusQueued}, To: chorus.StatusActive, AssigneeID: ptr("ann"), At: at(2)})
	// Same assignee again: assigned_at is kept, updated_at moves.
	want.UpdatedAt = at(3)
	want.TeamID = ptr("t1")
	step("same assignee", chorus.Transition{From: []string{chorus.StatusActive}, To: chorus.StatusActive, AssigneeID: ptr("ann"), TeamID: ptr("t1"), At: at(3)})
	// Transfer: assigned_at moves.
	want.AssigneeID, want.AssignedAt, want.UpdatedAt, want.TeamID = ptr("bob"), ptr(at(4)), at(4), nil
	step("transfer", chorus.Transition{From: []string{chorus.StatusActive}, To: chorus.StatusActive, AssigneeID: ptr("bob"), At: at(4)})
	// Requeue: queued_at moves, assigned_at kept.
	want.Status, want.AssigneeID, want.QueuedAt, want.UpdatedAt = chorus.StatusQueued, nil, ptr(at(5)), at(5)
	step("requeue", chorus.Transition{From: []string{chorus.StatusActive}, To: chorus.StatusQueued, At: at(5)})
	// Close with the assignee kept: closed_at set.
	want.Status, want.ClosedAt, want.UpdatedAt = chorus.StatusClosed, ptr(at(6)), at(6)
	step("close", chorus.Transition{From: []string{chorus.StatusQueued}, To: chorus.StatusClosed, At: at(6)})
}

func testConversationTenantIsolation(t *testing.T, s chorus.Store) {
	w := seed(t, s)
	other := seed(t, s)
	ctx := context.Background()
	c := w.conv(t, chorus.StatusQueued, nil, at(1))
	n := outboxCount(t, s)
	_, err := s.ConversationGet(ctx, other.tenant, c.ID)
	wantCode(t, err, chorus.ENOTFOUND, "ConversationGet other tenant")
	_, err = s.ConversationTransition(ctx, other.tenant, c.ID, chorus.Transition{
		From: []string{chorus.StatusQueued}, To: chorus.StatusActive, AssigneeID: ptr("evil"), At: at(2)})
	wantCode(t, err, chorus.ENOTFOUND, "ConversationTransition other tenant")
	list, next, err := s.ConversationList(ctx, other.tenant, chorus.ConversationFilter{Limit: 50})
	must(t, err, "ConversationList other tenant")
	if len(list) != 0 || next != "" {
		t.Errorf("ConversationList other tenant = %v", convIDs(list))
	}
	q, err := s.QueueList(ctx, other.tenant, 50)
	must(t, err, "QueueList other tenant")
	if len(q) != 0 {
		t.Errorf("QueueList other tenant = %v", convIDs(q))
	}
	_, err = s.ContactOpenConversation(ctx, other.tenant, w.contact.ID)
	wantCode(t, err, chorus.ENOTFOUND, "ContactOpenConversation other tenant")
	got, err := s.ConversationGet(ctx, w.tenant, c.ID)
	must(t, err, "ConversationGet")
	eqConversation(t, "after other tenant's transition", got, c)
	if m := outboxCount(t, s); m != n {
		t.Errorf("other tenant's transition wrote %d outbox rows", m-n)
	}
}

func testQueueList(t *testing.T, s chorus.Store) {
	w := seed(t, s)
	ctx := context.Background()
	mk := func(created, queued int) chorus.Conversation {
		c := chorus.Conversation{ID: newID("conv"), ChannelID: w.channel.ID, ContactID: w.contact.ID,
			Status: chorus.StatusQueued, CreatedAt: at(created), QueuedAt: ptr(at(queued)), UpdatedAt: at(created)}
		got, err := s.ConversationCreate(ctx, w.tenant, c)
		must(t, err, "ConversationCreate")
		return got
	}
	// Creation order differs from queue order: a requeued conversation
	// goes by its queued_at.
	c1 := mk(1, 30)
	c2 := mk(2, 10)
	c3 := mk(3, 20)
	w.conv(t, chorus.StatusActive, ptr("ann"), at(4))
	w.conv(t, chorus.StatusClosed, nil, at(5))
	got, err := s.QueueList(ctx, w.tenant, 10)
	must(t, err, "QueueList")
	eqIDs(t, "QueueList", convIDs(got), []string{c2.ID, c3.ID, c1.ID})
	got, err = s.QueueList(ctx, w.tenant, 2)
	must(t, err, "QueueList limit 2")
	eqIDs(t, "QueueList limit 2", convIDs(got), []string{c2.ID, c3.ID})
	// Taking one out of the queue removes it.
	_, err = s.ConversationTransition(ctx, w.tenant, c2.ID, chorus.Transition{
		From: []string{chorus.StatusQueued}, To: chorus.StatusActive, AssigneeID: ptr("ann"), At: at(40)})
	must(t, err, "accept")
	got, err = s.QueueList(ctx, w.tenant, 10)
	must(t, err, "QueueList after accept")
	eqIDs(t, "QueueList after accept", convIDs(got), []string{c3.ID, c1.ID})
	if len(got) == 2 {
		eqConversation(t, "queue item", got[0], c3)
	}
}

// testQueuePosition: the place in QueueList's order, past any page size;
// 0 once out of the queue; unknown and foreign conversations not found.
func testQueuePosition(t *testing.T, s chorus.Store) {
	w := seed(t, s)
	other := seed(t, s)
	ctx := context.Background()
	var queued []chorus.Conversation
	for i := range 60 {
		c := chorus.Conversation{ID: newID("conv"), ChannelID: w.channel.ID, ContactID: w.contact.ID,
			Status: chorus.StatusQueued, CreatedAt: at(i), QueuedAt: ptr(at(100 - i)), UpdatedAt: at(i)}
		got, err := s.ConversationCreate(ctx, w.tenant, c)
		must(t, err, "ConversationCreate")
		queued = append(queued, got)
	}
	// Two queued at the same instant go by id, as QueueList does.
	twin := chorus.Conversation{ID: queued[59].ID + "z", ChannelID: w.channel.ID, ContactID: w.contact.ID,
		Status: chorus.StatusQueued, CreatedAt: at(0), QueuedAt: ptr(at(41)), UpdatedAt: at(0)}
	_, err := s.ConversationCreate(ctx, w.tenant, twin)
	must(t, err, "ConversationCreate twin")
	other.conv(t, chorus.StatusQueued, nil, at(1)) // another tenant's queue does not count
	list, err := s.QueueList(ctx, w.tenant, 100)
	must(t, err, "QueueList")
	if len(list) != 61 {
		t.Fatalf("QueueList = %d conversations, want 61", len(list))
	}
	for i, c := range list {
		pos, err := s.QueuePosition(ctx, w.tenant, c.ID)
		must(t, err, "QueuePosition")
		if pos != i+1 {
			t.Fatalf("QueuePosition(%s) = %d, want %d (its place in QueueList)", c.ID, pos, i+1)
		}
	}
	_, err = s.ConversationTransition(ctx, w.tenant, list[0].ID, chorus.Transition{
		From: []string{chorus.StatusQueued}, To: chorus.StatusActive, AssigneeID: ptr("ann"), At: at(200)})
	must(t, err, "accept")
	if pos, err := s.QueuePosition(ctx, w.tenant, list[0].ID); err != nil || pos != 0 {
		t.Errorf("accepted conversation: position %d, %v; want 0", pos, err)
	}
	if pos, err := s.QueuePosition(ctx, w.tenant, list[60].ID); err != nil || pos != 60 {
		t.Errorf("last conversation after one left: position %d, %v; want 60", pos, err)
	}
	_, err = s.QueuePosition(ctx, w.tenant, "no-such-conv")
	wantCode(t, err, chorus.ENOTFOUND, "unknown conversation")
	_, err = s.QueuePosition(ctx, other.tenant, list[1].ID)
	wantCode(t, err, chorus.ENOTFOUND, "another tenant's conversation")
}

func testContactOpenConversation(t *testing.T, s chorus.Store) {
	w := seed(t, s)
	ctx := context.Background()
	_, err := s.ContactOpenConversation(ctx, w.tenant, w.contact.ID)
	wantCode(t, err, chorus.ENOTFOUND, "no conversation yet")
	w.conv(t, chorus.StatusClosed, nil, at(1))
	_, err = s.ContactOpenConversation(ctx, w.tenant, w.contact.ID)
	wantCode(t, err, chorus.ENOTFOUND, "only a closed conversation")
	older := w.conv(t, chorus.StatusQueued, nil, at(2))
	newer := w.conv(t, chorus.StatusActive, ptr("ann"), at(3))
	w.conv(t, chorus.StatusClosed, nil, at(4))
	w.convOf(t, w.newContact(t).ID, chorus.StatusQueued, nil, at(5))
	got, err := s.ContactOpenConversation(ctx, w.tenant, w.contact.ID)
	must(t, err, "ContactOpenConversation")
	eqConversation(t, "ContactOpenConversation", got, newer)
	_, err = s.ConversationTransition(ctx, w.tenant, newer.ID, chorus.Transition{
		From: []string{chorus.StatusActive}, To: chorus.StatusClosed, AssigneeID: ptr("ann"), At: at(6)})
	must(t, err, "close")
	got, err = s.ContactOpenConversation(ctx, w.tenant, w.contact.ID)
	must(t, err, "ContactOpenConversation after close")
	if got.ID != older.ID {
		t.Errorf("ContactOpenConversation after close = %s, want %s", got.ID, older.ID)
	}
}

// wantEvent checks an outbox row's tenant and kind and that its payload is
// JSON mentioning id.
func wantEvent(t *testing.T, e chorus.OutboxEvent, tenant, kind, id string) {
	t.Helper()
	if e.TenantID != tenant || e.Kind != kind {
		t.Errorf("outbox row %d = tenant %q kind %q, want %q %q", e.ID, e.TenantID, e.Kind, tenant, kind)
	}
	if !json.Valid(e.Payload) || !bytes.Contains(e.Payload, []byte(`"`+id+`"`)) {
		t.Errorf("outbox row %d payload %s: want JSON mentioning %q", e.ID, e.Payload, id)
	}
	if e.ID <= 0 || e.CreatedAt.IsZero() {
		t.Errorf("outbox row id %d created_at %v", e.ID, e.CreatedAt)
	}
}
