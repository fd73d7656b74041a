package chat

import (
	"context"

	"github.com/enkisys/chorus/internal/chorus"
)

// Access levels for a conversation.
const (
	accessRead  = iota // see it and its messages
	accessWrite        // send, read receipts, typing: a participant
)

// Authorize returns the conversation if p may reach it at the given access
// level. Another tenant's conversation (or a visitor's other conversations)
// is ENOTFOUND; a same-tenant agent without access gets EFORBIDDEN.
func (s *Service) Authorize(ctx context.Context, p chorus.Principal, id string, write bool) (chorus.Conversation, error) {
	if !chorus.ValidID(id) {
		return chorus.Conversation{}, chorus.Errorf(chorus.ENOTFOUND, "Conversation not found.")
	}
	if p.IsVisitor() && p.ConversationID != id {
		return chorus.Conversation{}, chorus.Errorf(chorus.ENOTFOUND, "Conversation not found.")
	}
	c, err := s.store.ConversationGet(ctx, p.TenantID, id)
	if err != nil {
		return c, err
	}
	if err := canAccess(p, &c, write); err != nil {
		return chorus.Conversation{}, err
	}
	return c, nil
}

func canAccess(p chorus.Principal, c *chorus.Conversation, write bool) error {
	switch {
	case p.IsVisitor():
		if c.ContactID != p.Subject {
			return chorus.Errorf(chorus.ENOTFOUND, "Conversation not found.")
		}
		return nil
	case p.IsSupervisor():
		return nil
	case p.IsAgent():
		if isAssignee(c, p.Subject) {
			return nil
		}
		if !write && c.Status == chorus.StatusQueued {
			return nil
		}
		return chorus.Errorf(chorus.EFORBIDDEN, "This conversation is assigned to someone else.")
	}
	return chorus.Errorf(chorus.EFORBIDDEN, "Not allowed.")
}

func actorOf(p chorus.Principal) *chorus.Actor {
	a := p.Actor()
	return &a
}

func isAssignee(c *chorus.Conversation, id string) bool {
	return c.AssigneeID != nil && *c.AssigneeID == id
}

// GetConversation returns a conversation the caller may see.
func (s *Service) GetConversation(ctx context.Context, p chorus.Principal, id string) (chorus.Conversation, error) {
	return s.Authorize(ctx, p, id, false)
}

// ListConversations returns a page: agents see their own and the queue;
// supervisors and admins everything in the tenant.
func (s *Service) ListConversations(ctx context.Context, p chorus.Principal, f chorus.ConversationFilter) ([]chorus.Conversation, string, error) {
	if !p.IsAgent() {
		return nil, "", chorus.Errorf(chorus.EFORBIDDEN, "Agents only.")
	}
	switch f.Status {
	case "", chorus.StatusQueued, chorus.StatusActive, chorus.StatusClosed, chorus.StatusMissed:
	default:
		return nil, "", chorus.Errorf(chorus.EINVALID, "status: must be one of queued, active, closed, missed.")
	}
	if f.AssigneeID != "" && !chorus.ValidID(f.AssigneeID) {
		return nil, "", chorus.Errorf(chorus.EINVALID, "assignee_id: not a valid id.")
	}
	if !p.IsSupervisor() {
		f.VisibleTo = p.Subject
	}
	f.Limit = clampLimit(f.Limit, 50)
	return s.store.ConversationList(ctx, p.TenantID, f)
}

func clampLimit(l, def int) int {
	switch {
	case l <= 0:
		return def
	case l > 200:
		return 200
	}
	return l
}

// QueueEntry is one line of the queue.
type QueueEntry struct {
	Conversation  chorus.Conversation `json:"conversation"`
	Position      int                 `json:"position"`
	WaitedSeconds int64               `json:"waited_seconds"`
}

// Queue returns the waiting line, oldest first.
func (s *Service) Queue(ctx context.Context, p chorus.Principal, limit int) ([]QueueEntry, error) {
	if !p.IsAgent() {
		return nil, chorus.Errorf(chorus.EFORBIDDEN, "Agents only.")
	}
	q, err := s.store.QueueList(ctx, p.TenantID, clampLimit(limit, 200))
	if err != nil {
		return nil, err
	}
	now := s.now()
	out := make([]QueueEntry, len(q))
	for i, c := range q {
		var waited int64
		if c.QueuedAt != nil {
			waited = int64(now.Sub(*c.QueuedAt).Seconds())
		}
		out[i] = QueueEntry{Conversation: c, Position: i + 1, WaitedSeconds: max(waited, 0)}
	}
	return out, nil
}

// Accept assigns a queued conversation to the calling agent.
func (s *Service) Accept(ctx context.Context, p chorus.Principal, id string) (chorus.Conversation, error) {
	if !p.IsAgent() {
		return chorus.Conversation{}, chorus.Errorf(chorus.EFORBIDDEN, "Agents only.")
	}
	if _, err := s.Authorize(ctx, p, id, false); err != nil {
		if chorus.ErrorCode(err) == chorus.EFORBIDDEN {
			return chorus.Conversation{}, chorus.Errorf(chorus.ECONFLICT, "The conversation is already taken.")
		}
		return chorus.Conversation{}, err
	}
	me := p.Subject
	c, err := s.store.ConversationTransition(ctx, p.TenantID, id, chorus.Transition{
		From: []string{chorus.StatusQueued}, To: chorus.StatusActive, AssigneeID: &me, At: s.now().UTC(),
		Event: chorus.OutboxConversationAssigned, Actor: actorOf(p),
	})
	if err != nil {
		if chorus.ErrorCode(err) == chorus.ECONFLICT {
			return c, chorus.Errorf(chorus.ECONFLICT, "The conversation is no longer queued (taken or closed).")
		}
		return c, err
	}
	s.publishConversation(ctx, &c)
	return c, nil
}

// TransferTo names the target of a transfer: an agent or a team.
type TransferTo struct {
	AgentID string `json:"agent_id"`
	TeamID  string `json:"team_id"`
}

// Transfer hands a conversation to another agent (it stays active) or to a
// team (it goes back to the queue).
func (s *Service) Transfer(ctx context.Context, p chorus.Principal, id string, to TransferTo) (chorus.Conversation, error) {
	if !p.IsAgent() {
		return chorus.Conversation{}, chorus.Errorf(chorus.EFORBIDDEN, "Agents only.")
	}
	if (to.AgentID == "") == (to.TeamID == "") {
		return chorus.Conversation{}, chorus.Errorf(chorus.EINVALID, "Give exactly one of agent_id or team_id.")
	}
	cur, err := s.Authorize(ctx, p, id, true)
	if err != nil {
		return cur, err
	}
	t := chorus.Transition{From: []string{chorus.StatusQueued, chorus.StatusActive}, At: s.now().UTC(),
		Event: chorus.OutboxConversationTransferred, Actor: actorOf(p)}
	if !p.IsSupervisor() {
		t.OnlyAssignee = p.Subject
	}
	if to.AgentID != "" {
		if !chorus.ValidID(to.AgentID) {
			return cur, chorus.Errorf(chorus.EINVALID, "agent_id: not a valid id.")
		}
		if _, err := s.store.AgentGet(ctx, p.TenantID, to.AgentID); err != nil {
			if chorus.ErrorCode(err) == chorus.ENOTFOUND {
				return cur, chorus.Errorf(chorus.EINVALID, "agent_id: no such agent.")
			}
			return cur, err
		}
		agent := to.AgentID
		t.To, t.AssigneeID, t.TeamID = chorus.StatusActive, &agent, cur.TeamID
	} else {
		if !chorus.ValidID(to.TeamID) {
			return cur, chorus.Errorf(chorus.EINVALID, "team_id: not a valid id.")
		}
		team := to.TeamID
		t.To, t.TeamID = chorus.StatusQueued, &team
	}
	c, err := s.store.ConversationTransition(ctx, p.TenantID, id, t)
	if err != nil {
		return c, err
	}
	if p.IsSupervisor() {
		s.audit(ctx, p, "conversation.transfer", "conversation", id, to)
	}
	s.publishConversation(ctx, &c)
	return c, nil
}

// Close ends a conversation: by its assignee, a supervisor or admin, or the visitor.
func (s *Service) Close(ctx context.Context, p chorus.Principal, id string) (chorus.Conversation, error) {
	cur, err := s.Authorize(ctx, p, id, true)
	if err != nil {
		return cur, err
	}
	t := chorus.Transition{From: []string{chorus.StatusQueued, chorus.StatusActive}, To: chorus.StatusClosed,
		AssigneeID: cur.AssigneeID, TeamID: cur.TeamID, At: s.now().UTC(),
		Event: chorus.OutboxConversationClosed, Actor: actorOf(p)}
	if p.IsAgent() && !p.IsSupervisor() {
		t.OnlyAssignee = p.Subject
	}
	c, err := s.store.ConversationTransition(ctx, p.TenantID, id, t)
	if err != nil {
		if chorus.ErrorCode(err) == chorus.ECONFLICT {
			return c, chorus.Errorf(chorus.ECONFLICT, "The conversation is already closed or was reassigned.")
		}
		return c, err
	}
	if p.IsSupervisor() {
		s.audit(ctx, p, "conversation.close", "conversation", id, nil)
	}
	s.publishConversation(ctx, &c)
	return c, nil
}
