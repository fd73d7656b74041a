package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/enkisys/chorus/internal/chorus"
)

func testMessageCreateSeq(t *testing.T, s chorus.Store) {
	w := seed(t, s)
	ctx := context.Background()
	c := w.conv(t, chorus.StatusActive, ptr("ann"), at(1))
	c2 := w.conv(t, chorus.StatusQueued, nil, at(1))
	n := outboxCount(t, s)
	for i := 1; i <= 3; i++ {
		nm := chorus.NewMessage{ID: newID("msg"), ConversationID: c.ID, SenderType: chorus.SenderVisitor,
			SenderID: w.contact.ID, Body: fmt.Sprintf("hello %d", i), ClientMsgID: fmt.Sprintf("c%d", i), CreatedAt: at(10 + i)}
		m, created, err := s.MessageCreate(ctx, w.tenant, nm)
		must(t, err, "MessageCreate")
		if !created {
			t.Errorf("message %d: created = false", i)
		}
		eqMessage(t, "MessageCreate", m, chorus.Message{ID: nm.ID, TenantID: w.tenant, ConversationID: c.ID, Seq: int64(i),
			SenderType: nm.SenderType, SenderID: nm.SenderID, Body: nm.Body, ClientMsgID: nm.ClientMsgID, CreatedAt: nm.CreatedAt})
	}
	// Sequences are per conversation; client_msg_id is unique per conversation only.
	m := w.send(t, c2.ID, chorus.SenderVisitor, w.contact.ID, "c1", at(20))
	if m.Seq != 1 {
		t.Errorf("first message of a second conversation: seq %d, want 1", m.Seq)
	}
	got, err := s.ConversationGet(ctx, w.tenant, c.ID)
	must(t, err, "ConversationGet")
	if got.LastSeq != 3 {
		t.Errorf("last_seq = %d, want 3", got.LastSeq)
	}
	ev, err := s.OutboxFetch(ctx, 100)
	must(t, err, "OutboxFetch")
	if len(ev) != n+4 {
		t.Fatalf("outbox rows = %d, want %d", len(ev), n+4)
	}
	wantEvent(t, ev[n+3], w.tenant, chorus.OutboxMessageCreated, m.ID)
	// Unknown conversation.
	_, _, err = s.MessageCreate(ctx, w.tenant, chorus.NewMessage{ID: newID("msg"), ConversationID: "no-such-conv",
		SenderType: chorus.SenderVisitor, SenderID: w.contact.ID, Body: "x", ClientMsgID: "c9", CreatedAt: at(30)})
	wantCode(t, err, chorus.ENOTFOUND, "MessageCreate unknown conversation")
}

func testMessageCreateIdempotent(t *testing.T, s chorus.Store) {
	w := seed(t, s)
	ctx := context.Background()
	c := w.conv(t, chorus.StatusActive, ptr("ann"), at(1))
	first := w.send(t, c.ID, chorus.SenderVisitor, w.contact.ID, "dup", at(2))
	n := outboxCount(t, s)
	retry := chorus.NewMessage{ID: newID("msg"), ConversationID: c.ID, SenderType: chorus.SenderVisitor,
		SenderID: w.contact.ID, Body: "a different body", ClientMsgID: "dup", CreatedAt: at(3)}
	got, created, err := s.MessageCreate(ctx, w.tenant, retry)
	must(t, err, "MessageCreate retry")
	if created {
		t.Error("retry: created = true")
	}
	eqMessage(t, "retry returns the stored message", got, first)
	if m := outboxCount(t, s); m != n {
		t.Errorf("retry wrote %d outbox rows", m-n)
	}
	// No seq was consumed.
	next := w.send(t, c.ID, chorus.SenderVisitor, w.contact.ID, "next", at(4))
	if next.Seq != 2 {
		t.Errorf("seq after a retry = %d, want 2", next.Seq)
	}
	// Idempotency comes first: after close, a retry is still answered.
	_, err = s.ConversationTransition(ctx, w.tenant, c.ID, chorus.Transition{
		From: []string{chorus.StatusActive}, To: chorus.StatusClosed, AssigneeID: ptr("ann"), At: at(5)})
	must(t, err, "close")
	got, created, err = s.MessageCreate(ctx, w.tenant, retry)
	must(t, err, "retry after close")
	if created || got.ID != first.ID || got.Seq != 1 {
		t.Errorf("retry after close = %+v created=%v, want the first message", got, created)
	}
}

func testMessageCreateClosed(t *testing.T, s chorus.Store) {
	w := seed(t, s)
	ctx := context.Background()
	c := w.conv(t, chorus.StatusClosed, nil, at(1))
	n := outboxCount(t, s)
	_, _, err := s.MessageCreate(ctx, w.tenant, chorus.NewMessage{ID: newID("msg"), ConversationID: c.ID,
		SenderType: chorus.SenderVisitor, SenderID: w.contact.ID, Body: "hi", ClientMsgID: "c1", CreatedAt: at(2)})
	wantCode(t, err, chorus.ECONFLICT, "MessageCreate on a closed conversation")
	got, err := s.ConversationGet(ctx, w.tenant, c.ID)
	must(t, err, "ConversationGet")
	if got.LastSeq != 0 {
		t.Errorf("last_seq = %d after a refused message", got.LastSeq)
	}
	list, err := s.MessageList(ctx, w.tenant, c.ID, 0, 10)
	must(t, err, "MessageList")
	if len(list) != 0 || outboxCount(t, s) != n {
		t.Errorf("refused message left %d messages / outbox rows", len(list))
	}
}

func testMessageCreateSenderMustBeAssignee(t *testing.T, s chorus.Store) {
	w := seed(t, s)
	ctx := context.Background()
	c := w.conv(t, chorus.StatusActive, ptr("ann"), at(1))
	q := w.conv(t, chorus.StatusQueued, nil, at(1))
	nm := func(conv, sender, cmid string) chorus.NewMessage {
		return chorus.NewMessage{ID: newID("msg"), ConversationID: conv, SenderType: chorus.SenderAgent, SenderID: sender,
			Body: "hi", ClientMsgID: cmid, CreatedAt: at(2), SenderMustBeAssignee: true}
	}
	_, _, err := s.MessageCreate(ctx, w.tenant, nm(c.ID, "bob", "b1"))
	wantCode(t, err, chorus.EFORBIDDEN, "non-assignee")
	_, _, err = s.MessageCreate(ctx, w.tenant, nm(q.ID, "bob", "b2"))
	wantCode(t, err, chorus.EFORBIDDEN, "conversation without assignee")
	m, created, err := s.MessageCreate(ctx, w.tenant, nm(c.ID, "ann", "a1"))
	must(t, err, "assignee")
	if !created || m.Seq != 1 {
		t.Errorf("assignee's message: created=%v seq=%d, want true 1 (refused ones consume no seq)", created, m.Seq)
	}
	// Without the flag (a supervisor) anyone may write.
	free := nm(c.ID, "sup", "s1")
	free.SenderMustBeAssignee = false
	m, _, err = s.MessageCreate(ctx, w.tenant, free)
	must(t, err, "supervisor")
	if m.Seq != 2 {
		t.Errorf("supervisor's message seq = %d, want 2", m.Seq)
	}
}

func testMessageCreateConcurrent(t *testing.T, s chorus.Store) {
	w := seed(t, s)
	ctx := context.Background()
	c := w.conv(t, chorus.StatusActive, ptr("ann"), at(1))
	const workers, distinct = 50, 30
	type result struct {
		m       chorus.Message
		created bool
		err     error
	}
	results := make([]result, workers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			m, created, err := s.MessageCreate(ctx, w.tenant, chorus.NewMessage{ID: newID("msg"), ConversationID: c.ID,
				SenderType: chorus.SenderVisitor, SenderID: w.contact.ID, Body: "race",
				ClientMsgID: fmt.Sprintf("c%d", i%distinct), CreatedAt: at(2)})
			results[i] = result{m, created, err}
		}()
	}
	close(start)
	wg.Wait()
	byClient := map[string]chorus.Message{}
	seqs := map[int64]string{}
	createdCount := 0
	for i, r := range results {
		if r.err != nil {
			t.Fatalf("worker %d: %v", i, r.err)
		}
		if r.created {
			createdCount++
		}
		cmid := fmt.Sprintf("c%d", i%distinct)
		if prev, ok := byClient[cmid]; ok {
			if prev.ID != r.m.ID || prev.Seq != r.m.Seq {
				t.Errorf("client_msg_id %s: two messages %s/%d and %s/%d", cmid, prev.ID, prev.Seq, r.m.ID, r.m.Seq)
			}
			continue
		}
		byClient[cmid] = r.m
		if other, dup := seqs[r.m.Seq]; dup {
			t.Errorf("seq %d given to %s and %s", r.m.Seq, other, cmid)
		}
		seqs[r.m.Seq] = cmid
	}
	if createdCount != distinct {
		t.Errorf("created=true %d times, want %d", createdCount, distinct)
	}
	for seq := int64(1); seq <= distinct; seq++ {
		if _, ok := seqs[seq]; !ok {
			t.Errorf("seq %d missing", seq)
		}
	}
	list, err := s.MessageList(ctx, w.tenant, c.ID, 0, 200)
	must(t, err, "MessageList")
	if len(list) != distinct {
		t.Errorf("stored messages = %d, want %d", len(list), distinct)
	}
	for i, m := range list {
		if m.Seq != int64(i+1) || byClient[m.ClientMsgID].ID != m.ID {
			t.Errorf("stored message %d: seq %d id %s client %s", i, m.Seq, m.ID, m.ClientMsgID)
		}
	}
	got, err := s.ConversationGet(ctx, w.tenant, c.ID)
	must(t, err, "ConversationGet")
	if got.LastSeq != distinct {
		t.Errorf("last_seq = %d, want %d", got.LastSeq, distinct)
	}
}

func testMessageList(t *testing.T, s chorus.Store) {
	w := seed(t, s)
	ctx := context.Background()
	c := w.conv(t, chorus.StatusActive, ptr("ann"), at(1))
	other := w.conv(t, chorus.StatusActive, ptr("ann"), at(1))
	var sent []chorus.Message
	for i := range 7 {
		sender, id := chorus.SenderVisitor, w.contact.ID
		if i%2 == 1 {
			sender, id = chorus.SenderAgent, "ann"
		}
		sent = append(sent, w.send(t, c.ID, sender, id, fmt.Sprintf("m%d", i), at(10+i)))
	}
	w.send(t, other.ID, chorus.SenderVisitor, w.contact.ID, "o1", at(30))
	tests := []struct {
		after     int64
		limit     int
		wantFirst int64
		wantN     int
	}{
		{0, 100, 1, 7},
		{0, 3, 1, 3},
		{3, 2, 4, 2},
		{5, 100, 6, 2},
		{7, 100, 0, 0},
		{99, 100, 0, 0},
	}
	for _, tt := range tests {
		got, err := s.MessageList(ctx, w.tenant, c.ID, tt.after, tt.limit)
		must(t, err, "MessageList")
		if len(got) != tt.wantN {
			t.Errorf("after %d limit %d: %d messages, want %d", tt.after, tt.limit, len(got), tt.wantN)
			continue
		}
		for i, m := range got {
			want := sent[tt.wantFirst-1+int64(i)]
			eqMessage(t, fmt.Sprintf("after %d #%d", tt.after, i), m, want)
		}
	}
	got, err := s.MessageList(ctx, w.tenant, "no-such-conv", 0, 10)
	if err != nil {
		wantCode(t, err, chorus.ENOTFOUND, "MessageList unknown conversation")
	} else if len(got) != 0 {
		t.Errorf("MessageList unknown conversation = %d messages", len(got))
	}
}

func testMessageTenantIsolation(t *testing.T, s chorus.Store) {
	w := seed(t, s)
	other := seed(t, s)
	ctx := context.Background()
	c := w.conv(t, chorus.StatusActive, ptr("ann"), at(1))
	m := w.send(t, c.ID, chorus.SenderVisitor, w.contact.ID, "c1", at(2))
	n := outboxCount(t, s)

	// Another tenant can neither write nor replay, even with a known client_msg_id.
	for _, cmid := range []string{"c1", "c2"} {
		_, _, err := s.MessageCreate(ctx, other.tenant, chorus.NewMessage{ID: newID("msg"), ConversationID: c.ID,
			SenderType: chorus.SenderVisitor, SenderID: other.contact.ID, Body: "evil", ClientMsgID: cmid, CreatedAt: at(3)})
		wantCode(t, err, chorus.ENOTFOUND, "MessageCreate other tenant "+cmid)
	}
	list, err := s.MessageList(ctx, other.tenant, c.ID, 0, 100)
	if err != nil {
		wantCode(t, err, chorus.ENOTFOUND, "MessageList other tenant")
	} else if len(list) != 0 {
		t.Errorf("MessageList other tenant = %d messages", len(list))
	}
	_, _, err = s.MessageMarkReceipt(ctx, other.tenant, c.ID, chorus.Actor{Type: chorus.SenderAgent, ID: "evil"}, chorus.ReceiptRead, 1, at(4))
	wantCode(t, err, chorus.ENOTFOUND, "MessageMarkReceipt other tenant")

	list, err = s.MessageList(ctx, w.tenant, c.ID, 0, 100)
	must(t, err, "MessageList")
	if len(list) != 1 {
		t.Fatalf("messages = %d, want 1", len(list))
	}
	eqMessage(t, "untouched message", list[0], m)
	got, err := s.ConversationGet(ctx, w.tenant, c.ID)
	must(t, err, "ConversationGet")
	if got.LastSeq != 1 {
		t.Errorf("last_seq = %d, want 1", got.LastSeq)
	}
	if o := outboxCount(t, s); o != n {
		t.Errorf("other tenant wrote %d outbox rows", o-n)
	}
	// The receipt of the other tenant did not count: the agent's read
	// watermark here still moves from 0.
	wm, moved, err := s.MessageMarkReceipt(ctx, w.tenant, c.ID, chorus.Actor{Type: chorus.SenderAgent, ID: "evil"}, chorus.ReceiptRead, 1, at(5))
	must(t, err, "MessageMarkReceipt")
	if wm != 1 || !moved {
		t.Errorf("watermark = %d moved=%v, want 1 true", wm, moved)
	}
}

func testMessageMarkReceipt(t *testing.T, s chorus.Store) {
	w := seed(t, s)
	ctx := context.Background()
	c := w.conv(t, chorus.StatusActive, ptr("ann"), at(1))
	for i := range 5 {
		w.send(t, c.ID, chorus.SenderAgent, "ann", fmt.Sprintf("a%d", i), at(10+i))
	}
	visitor := chorus.Actor{Type: chorus.SenderVisitor, ID: w.contact.ID}
	mark := func(kind string, seq int64, sec int, wantWM int64, wantMoved bool) {
		t.Helper()
		wm, moved, err := s.MessageMarkReceipt(ctx, w.tenant, c.ID, visitor, kind, seq, at(sec))
		must(t, err, "MessageMarkReceipt")
		if wm != wantWM || moved != wantMoved {
			t.Errorf("%s %d: watermark %d moved %v, want %d %v", kind, seq, wm, moved, wantWM, wantMoved)
		}
	}
	// state checks delivered_at / read_at of messages 1..5 against the
	// second at which they should have been set (0: unset).
	state := func(what string, delivered, read [5]int) {
		t.Helper()
		list, err := s.MessageList(ctx, w.tenant, c.ID, 0, 10)
		must(t, err, "MessageList")
		for i, m := range list {
			var wd, wr *int
			if delivered[i] != 0 {
				wd = &delivered[i]
			}
			if read[i] != 0 {
				wr = &read[i]
			}
			eqTimePtr(t, fmt.Sprintf("%s: message %d delivered_at", what, m.Seq), m.DeliveredAt, secPtr(wd))
			eqTimePtr(t, fmt.Sprintf("%s: message %d read_at", what, m.Seq), m.ReadAt, secPtr(wr))
		}
	}
	mark(chorus.ReceiptDelivered, 2, 20, 2, true)
	state("delivered 2", [5]int{20, 20, 0, 0, 0}, [5]int{})
	mark(chorus.ReceiptDelivered, 1, 21, 2, false) // never lowered
	mark(chorus.ReceiptDelivered, 2, 21, 2, false)
	state("delivered lower", [5]int{20, 20, 0, 0, 0}, [5]int{})
	// Read implies delivered.
	mark(chorus.ReceiptRead, 3, 22, 3, true)
	state("read 3", [5]int{20, 20, 22, 0, 0}, [5]int{22, 22, 22, 0, 0})
	mark(chorus.ReceiptDelivered, 3, 23, 3, false)
	mark(chorus.ReceiptRead, 2, 23, 3, false)
	// Clamped to last_seq.
	mark(chorus.ReceiptDelivered, 99, 24, 5, true)
	state("delivered 99", [5]int{20, 20, 22, 24, 24}, [5]int{22, 22, 22, 0, 0})
	mark(chorus.ReceiptRead, 99, 25, 5, true)
	mark(chorus.ReceiptRead, 99, 26, 5, false)
	state("read 99", [5]int{20, 20, 22, 24, 24}, [5]int{22, 22, 22, 25, 25})
	// A new message is beyond the old clamp: the watermark moves on.
	w.send(t, c.ID, chorus.SenderAgent, "ann", "a5", at(27))
	mark(chorus.ReceiptRead, 6, 28, 6, true)
}

func secPtr(sec *int) *time.Time {
	if sec == nil {
		return nil
	}
	return ptr(at(*sec))
}

func testMessageMarkReceiptSides(t *testing.T, s chorus.Store) {
	w := seed(t, s)
	ctx := context.Background()
	c := w.conv(t, chorus.StatusActive, ptr("ann"), at(1))
	w.send(t, c.ID, chorus.SenderVisitor, w.contact.ID, "v1", at(2)) // seq 1
	w.send(t, c.ID, chorus.SenderAgent, "ann", "a1", at(3))          // seq 2
	w.send(t, c.ID, chorus.SenderVisitor, w.contact.ID, "v2", at(4)) // seq 3
	agent := chorus.Actor{Type: chorus.SenderAgent, ID: "ann"}
	visitor := chorus.Actor{Type: chorus.SenderVisitor, ID: w.contact.ID}

	wm, moved, err := s.MessageMarkReceipt(ctx, w.tenant, c.ID, agent, chorus.ReceiptRead, 3, at(10))
	must(t, err, "agent reads")
	if wm != 3 || !moved {
		t.Errorf("agent read: %d %v", wm, moved)
	}
	list, err := s.MessageList(ctx, w.tenant, c.ID, 0, 10)
	must(t, err, "MessageList")
	// The agent's read marks only the visitor's messages.
	eqTimePtr(t, "visitor msg 1 read_at", list[0].ReadAt, ptr(at(10)))
	eqTimePtr(t, "visitor msg 1 delivered_at", list[0].DeliveredAt, ptr(at(10)))
	eqTimePtr(t, "agent msg 2 read_at", list[1].ReadAt, nil)
	eqTimePtr(t, "agent msg 2 delivered_at", list[1].DeliveredAt, nil)
	eqTimePtr(t, "visitor msg 3 read_at", list[2].ReadAt, ptr(at(10)))

	// Watermarks are per reader: the visitor starts from 0.
	wm, moved, err = s.MessageMarkReceipt(ctx, w.tenant, c.ID, visitor, chorus.ReceiptDelivered, 3, at(11))
	must(t, err, "visitor delivered")
	if wm != 3 || !moved {
		t.Errorf("visitor delivered: %d %v", wm, moved)
	}
	wm, moved, err = s.MessageMarkReceipt(ctx, w.tenant, c.ID, visitor, chorus.ReceiptRead, 1, at(12))
	must(t, err, "visitor read 1")
	if wm != 1 || !moved {
		t.Errorf("visitor read 1: %d %v (read watermark is separate from delivered)", wm, moved)
	}
	list, err = s.MessageList(ctx, w.tenant, c.ID, 0, 10)
	must(t, err, "MessageList")
	eqTimePtr(t, "agent msg 2 delivered_at", list[1].DeliveredAt, ptr(at(11)))
	eqTimePtr(t, "agent msg 2 read_at", list[1].ReadAt, nil)
	// Already-set timestamps are kept.
	eqTimePtr(t, "visitor msg 1 read_at kept", list[0].ReadAt, ptr(at(10)))
	eqTimePtr(t, "visitor msg 3 delivered_at kept", list[2].DeliveredAt, ptr(at(10)))

	// A second agent's watermark is its own, and messages keep their first read_at.
	wm, moved, err = s.MessageMarkReceipt(ctx, w.tenant, c.ID, chorus.Actor{Type: chorus.SenderAgent, ID: "sup"}, chorus.ReceiptRead, 3, at(13))
	must(t, err, "second agent")
	if wm != 3 || !moved {
		t.Errorf("second agent read: %d %v", wm, moved)
	}
	list, err = s.MessageList(ctx, w.tenant, c.ID, 0, 10)
	must(t, err, "MessageList")
	eqTimePtr(t, "visitor msg 1 read_at after second agent", list[0].ReadAt, ptr(at(10)))
}

func testMessageMarkReceiptErrors(t *testing.T, s chorus.Store) {
	w := seed(t, s)
	ctx := context.Background()
	c := w.conv(t, chorus.StatusActive, ptr("ann"), at(1))
	agent := chorus.Actor{Type: chorus.SenderAgent, ID: "ann"}
	_, _, err := s.MessageMarkReceipt(ctx, w.tenant, "no-such-conv", agent, chorus.ReceiptRead, 1, at(2))
	wantCode(t, err, chorus.ENOTFOUND, "unknown conversation")
	_, _, err = s.MessageMarkReceipt(ctx, w.tenant, c.ID, agent, "seen", 1, at(2))
	wantCode(t, err, chorus.EINVALID, "unknown kind")
	// Nothing to read yet: clamped to 0, nothing moves.
	wm, moved, err := s.MessageMarkReceipt(ctx, w.tenant, c.ID, agent, chorus.ReceiptRead, 5, at(2))
	must(t, err, "empty conversation")
	if wm != 0 || moved {
		t.Errorf("empty conversation: %d %v, want 0 false", wm, moved)
	}
}

// testMessageMarkDelivered: a batch of delivery receipts across tenants
// behaves as the single calls would; an unknown or foreign conversation
// fails alone.
func testMessageMarkDelivered(t *testing.T, s chorus.Store) {
	w := seed(t, s)
	other := seed(t, s)
	ctx := context.Background()
	c1 := w.conv(t, chorus.StatusActive, ptr("ann"), at(1))
	c2 := w.conv(t, chorus.StatusActive, ptr("ann"), at(1))
	c3 := other.conv(t, chorus.StatusActive, ptr("bob"), at(1))
	for i := range 3 {
		w.send(t, c1.ID, chorus.SenderAgent, "ann", fmt.Sprintf("a%d", i), at(10+i))
		w.send(t, c2.ID, chorus.SenderVisitor, w.contact.ID, fmt.Sprintf("v%d", i), at(10+i))
		other.send(t, c3.ID, chorus.SenderAgent, "bob", fmt.Sprintf("b%d", i), at(10+i))
	}
	visitor := chorus.Actor{Type: chorus.SenderVisitor, ID: w.contact.ID}
	agent := chorus.Actor{Type: chorus.SenderAgent, ID: "ann"}
	res, err := s.MessageMarkDelivered(ctx, []chorus.DeliveryMark{
		{TenantID: w.tenant, ConversationID: c1.ID, Reader: visitor, Seq: 2},
		{TenantID: other.tenant, ConversationID: c3.ID, Reader: chorus.Actor{Type: chorus.SenderVisitor, ID: other.contact.ID}, Seq: 9},
		{TenantID: w.tenant, ConversationID: c3.ID, Reader: visitor, Seq: 1}, // another tenant's conversation
		{TenantID: w.tenant, ConversationID: "nope", Reader: visitor, Seq: 1},
		{TenantID: w.tenant, ConversationID: c2.ID, Reader: agent, Seq: 3},
		{TenantID: w.tenant, ConversationID: c1.ID, Reader: visitor, Seq: 1}, // lower: not moved
	}, at(30))
	must(t, err, "MessageMarkDelivered")
	want := []chorus.DeliveryResult{{Watermark: 2, Moved: true}, {Watermark: 3, Moved: true}, {}, {}, {Watermark: 3, Moved: true}, {Watermark: 2}}
	if len(res) != len(want) {
		t.Fatalf("%d results, want %d", len(res), len(want))
	}
	for i, r := range res {
		if i == 2 || i == 3 {
			wantCode(t, r.Err, chorus.ENOTFOUND, fmt.Sprintf("mark %d", i))
			continue
		}
		if r.Err != nil || r.Watermark != want[i].Watermark || r.Moved != want[i].Moved {
			t.Errorf("mark %d: %+v, want %+v", i, r, want[i])
		}
	}
	list, err := s.MessageList(ctx, w.tenant, c1.ID, 0, 10)
	must(t, err, "MessageList")
	for _, m := range list {
		delivered := m.DeliveredAt != nil
		if delivered != (m.Seq <= 2) {
			t.Errorf("c1 message %d delivered_at %v", m.Seq, m.DeliveredAt)
		}
	}
	// The same as the single call: a later read sees the watermark.
	wm, moved, err := s.MessageMarkReceipt(ctx, w.tenant, c1.ID, visitor, chorus.ReceiptDelivered, 2, at(31))
	must(t, err, "MessageMarkReceipt")
	if wm != 2 || moved {
		t.Errorf("after the batch: %d %v", wm, moved)
	}
	if res, err := s.MessageMarkDelivered(ctx, nil, at(32)); err != nil || len(res) != 0 {
		t.Errorf("empty batch: %v %v", res, err)
	}
	// One reader several times in a batch (two sockets of one visitor): each
	// mark moves only past the ones before it; seq is clamped to last_seq.
	res, err = s.MessageMarkDelivered(ctx, []chorus.DeliveryMark{
		{TenantID: w.tenant, ConversationID: c1.ID, Reader: visitor, Seq: 2},
		{TenantID: w.tenant, ConversationID: c1.ID, Reader: visitor, Seq: 3},
		{TenantID: w.tenant, ConversationID: c1.ID, Reader: visitor, Seq: 99},
	}, at(33))
	must(t, err, "MessageMarkDelivered")
	want = []chorus.DeliveryResult{{Watermark: 2}, {Watermark: 3, Moved: true}, {Watermark: 3}}
	for i, r := range res {
		if r != want[i] {
			t.Errorf("repeated reader, mark %d: %+v, want %+v", i, r, want[i])
		}
	}
	list, err = s.MessageList(ctx, w.tenant, c1.ID, 0, 10)
	must(t, err, "MessageList")
	for _, m := range list {
		wantAt := at(30)
		if m.Seq == 3 {
			wantAt = at(33)
		}
		if m.DeliveredAt == nil || !m.DeliveredAt.Equal(wantAt) {
			t.Errorf("c1 message %d delivered_at %v, want %v", m.Seq, m.DeliveredAt, wantAt)
		}
	}
}
