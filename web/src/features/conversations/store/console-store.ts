// The console's live state: conversations, the queue, each conversation's
// messages (de-duplicated and ordered by seq), the agent's own unacknowledged
// messages, receipts, typing and teammates' presence. A pure reducer, fed by
// REST results and agent-socket frames.

import type { AgentStatus, Conversation, Message, ServerFrame } from '../../../lib/types';

export interface PendingMessage {
  clientMsgId: string;
  conversationId: string;
  body: string;
  error?: string;
}

export interface Thread {
  /** Messages by seq; the list view sorts the keys. */
  bySeq: Record<number, Message>;
  /** Highest seq the visitor has received / read (receipts from the visitor). */
  deliveredSeq: number;
  readSeq: number;
  /** Whether the visitor is typing now. */
  visitorTyping: boolean;
}

export interface ConsoleState {
  me: string;
  conversations: Record<string, Conversation>;
  /** Queued conversations and their position (1 = oldest). */
  queue: Record<string, number>;
  threads: Record<string, Thread>;
  pending: PendingMessage[];
  presence: Record<string, AgentStatus>;
  /** Last conflict or error to show plainly, per conversation ('' = global). */
  errors: Record<string, string>;
}

export type Action =
  | { type: 'frame'; frame: ServerFrame }
  | { type: 'queue/loaded'; items: { conversation: Conversation; position: number }[] }
  | { type: 'conversations/loaded'; items: Conversation[] }
  | { type: 'conversation/updated'; conversation: Conversation }
  | { type: 'history/loaded'; conversationId: string; items: Message[] }
  | { type: 'pending/add'; pending: PendingMessage }
  | { type: 'error/set'; conversationId: string; message: string }
  | { type: 'error/clear'; conversationId: string };

export function initialState(me: string): ConsoleState {
  return { me, conversations: {}, queue: {}, threads: {}, pending: [], presence: {}, errors: {} };
}

const emptyThread: Thread = { bySeq: {}, deliveredSeq: 0, readSeq: 0, visitorTyping: false };

function thread(s: ConsoleState, id: string): Thread {
  return s.threads[id] ?? emptyThread;
}

function addMessages(s: ConsoleState, conversationId: string, msgs: Message[]): ConsoleState {
  const t = thread(s, conversationId);
  let bySeq = t.bySeq;
  let pending = s.pending;
  let changed = false;
  for (const m of msgs) {
    if (!Number.isInteger(m.seq) || m.seq < 1) continue;
    if (m.client_msg_id && pending.some((p) => p.clientMsgId === m.client_msg_id)) {
      pending = pending.filter((p) => p.clientMsgId !== m.client_msg_id);
      changed = true;
    }
    if (bySeq[m.seq]) continue;
    if (bySeq === t.bySeq) bySeq = { ...t.bySeq };
    bySeq[m.seq] = m;
    changed = true;
  }
  if (!changed) return s;
  let conversations = s.conversations;
  const c = conversations[conversationId];
  const top = Math.max(0, ...Object.keys(bySeq).map(Number));
  if (c && top > c.last_seq) conversations = { ...conversations, [conversationId]: { ...c, last_seq: top } };
  const lastIsVisitor = msgs.some((m) => m.sender_type === 'visitor');
  return {
    ...s,
    conversations,
    pending,
    threads: { ...s.threads, [conversationId]: { ...t, bySeq, visitorTyping: lastIsVisitor ? false : t.visitorTyping } },
  };
}

function upsertConversation(s: ConsoleState, c: Conversation, position?: number): ConsoleState {
  const prev = s.conversations[c.id];
  const merged = { ...prev, ...c, last_seq: Math.max(prev?.last_seq ?? 0, c.last_seq ?? 0) };
  const queue = { ...s.queue };
  if (c.status === 'queued') queue[c.id] = position ?? queue[c.id] ?? Object.keys(queue).length + 1;
  else delete queue[c.id];
  return { ...s, conversations: { ...s.conversations, [c.id]: merged }, queue };
}

export function reducer(s: ConsoleState, a: Action): ConsoleState {
  switch (a.type) {
    case 'queue/loaded': {
      let next: ConsoleState = { ...s, queue: {} };
      for (const it of a.items) next = upsertConversation(next, it.conversation, it.position);
      return next;
    }
    case 'conversations/loaded': {
      let next = s;
      for (const c of a.items) next = upsertConversation(next, c);
      return next;
    }
    case 'conversation/updated':
      return upsertConversation(s, a.conversation);
    case 'history/loaded':
      return addMessages(s, a.conversationId, a.items);
    case 'pending/add':
      if (s.pending.some((p) => p.clientMsgId === a.pending.clientMsgId)) return s;
      return { ...s, pending: [...s.pending, a.pending] };
    case 'error/set':
      return { ...s, errors: { ...s.errors, [a.conversationId]: a.message } };
    case 'error/clear': {
      if (!(a.conversationId in s.errors)) return s;
      const errors = { ...s.errors };
      delete errors[a.conversationId];
      return { ...s, errors };
    }
    case 'frame':
      return applyFrame(s, a.frame);
  }
}

function applyFrame(s: ConsoleState, f: ServerFrame): ConsoleState {
  switch (f.type) {
    case 'message':
      return addMessages(s, f.message.conversation_id, [f.message]);
    case 'message.ack': {
      const next = addMessages(s, f.message.conversation_id, [f.message]);
      return next.pending.some((p) => p.clientMsgId === f.client_msg_id)
        ? { ...next, pending: next.pending.filter((p) => p.clientMsgId !== f.client_msg_id) }
        : next;
    }
    case 'receipt': {
      if (f.actor?.type !== 'visitor') return s;
      const t = thread(s, f.conversation_id);
      const deliveredSeq = Math.max(t.deliveredSeq, f.seq);
      const readSeq = f.kind === 'read' ? Math.max(t.readSeq, f.seq) : t.readSeq;
      if (deliveredSeq === t.deliveredSeq && readSeq === t.readSeq) return s;
      return { ...s, threads: { ...s.threads, [f.conversation_id]: { ...t, deliveredSeq, readSeq } } };
    }
    case 'typing': {
      if (f.actor?.type !== 'visitor') return s;
      const t = thread(s, f.conversation_id);
      if (t.visitorTyping === f.active) return s;
      return { ...s, threads: { ...s.threads, [f.conversation_id]: { ...t, visitorTyping: f.active } } };
    }
    case 'conversation':
      return upsertConversation(s, f.conversation);
    case 'queue':
      return upsertConversation(s, f.conversation, f.position);
    case 'presence':
      return { ...s, presence: { ...s.presence, [f.agent.id]: f.agent.status } };
    case 'error': {
      const msg = f.message || f.code;
      let pending = s.pending;
      let convId = f.conversation_id ?? '';
      if (f.client_msg_id) {
        const p = pending.find((x) => x.clientMsgId === f.client_msg_id);
        if (p) {
          convId = p.conversationId;
          pending = pending.map((x) => (x === p ? { ...x, error: msg } : x));
        }
      }
      return { ...s, pending, errors: { ...s.errors, [convId]: msg } };
    }
    default:
      return s;
  }
}

// Selectors.

/** Messages of a conversation in seq order. */
export function messagesOf(s: ConsoleState, conversationId: string): Message[] {
  const t = s.threads[conversationId];
  if (!t) return [];
  return Object.keys(t.bySeq)
    .map(Number)
    .sort((a, b) => a - b)
    .map((k) => t.bySeq[k]);
}

/** Highest seq known for a conversation (the after_seq of the next fetch). */
export function highestSeq(s: ConsoleState, conversationId: string): number {
  const t = s.threads[conversationId];
  if (!t) return 0;
  return Math.max(0, ...Object.keys(t.bySeq).map(Number));
}

/** The agent's unacknowledged messages of a conversation. */
export function pendingOf(s: ConsoleState, conversationId: string): PendingMessage[] {
  return s.pending.filter((p) => p.conversationId === conversationId);
}

/** Pending messages to re-send after a reconnect (not refused). */
export function resendable(s: ConsoleState): PendingMessage[] {
  return s.pending.filter((p) => !p.error);
}

/** Queued conversations, by position. */
export function queueList(s: ConsoleState): { conversation: Conversation; position: number }[] {
  return Object.entries(s.queue)
    .map(([id, position]) => ({ conversation: s.conversations[id], position }))
    .filter((x) => x.conversation)
    .sort((a, b) => a.position - b.position);
}

/** Conversations assigned to me: active first, then by most recent. */
export function mine(s: ConsoleState): Conversation[] {
  return Object.values(s.conversations)
    .filter((c) => c.assignee_id === s.me && c.status !== 'queued')
    .sort((a, b) => (a.status === b.status ? (b.assigned_at ?? b.created_at).localeCompare(a.assigned_at ?? a.created_at) : a.status === 'active' ? -1 : 1));
}

/** The receipt state of one of my messages. */
export function receiptOf(s: ConsoleState, conversationId: string, seq: number): 'sent' | 'delivered' | 'read' {
  const t = s.threads[conversationId];
  if (!t) return 'sent';
  if (seq <= t.readSeq) return 'read';
  if (seq <= t.deliveredSeq) return 'delivered';
  return 'sent';
}
