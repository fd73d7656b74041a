// Pure protocol logic of the visitor widget: no DOM, no network. Everything
// here is unit-tested (protocol.test.ts); client.ts wires it to the browser.

export type SenderType = 'visitor' | 'agent' | 'system';
export type ConversationStatus = 'queued' | 'active' | 'closed' | 'missed';

export interface Message {
  id: string;
  conversation_id: string;
  seq: number;
  sender_type: SenderType;
  sender_id: string;
  body: string;
  client_msg_id?: string;
  created_at: string;
  delivered_at?: string | null;
  read_at?: string | null;
}

export interface Conversation {
  id: string;
  tenant_id: string;
  status: ConversationStatus;
  assignee_id?: string | null;
  last_seq: number;
}

export interface Actor {
  type: 'visitor' | 'agent' | 'system';
  id: string;
}

export type ServerFrame =
  | { type: 'hello'; conversation_id?: string; last_seq?: number; conversation?: Conversation }
  | { type: 'message'; message: Message }
  | { type: 'message.ack'; client_msg_id: string; message: Message }
  | { type: 'receipt'; conversation_id: string; kind: 'delivered' | 'read'; seq: number; actor: Actor }
  | { type: 'typing'; conversation_id: string; actor: Actor; active: boolean }
  | { type: 'conversation'; conversation: Conversation }
  | { type: 'pong' }
  | { type: 'error'; code: string; message: string; client_msg_id?: string };

/** One line of the rendered transcript. */
export interface TranscriptItem {
  key: string;
  seq: number | null;
  sender_type: SenderType;
  body: string;
  /** sending: not yet acknowledged; sent: stored; delivered/read: from receipts; failed: refused. */
  state: 'sending' | 'sent' | 'delivered' | 'read' | 'failed';
  own: boolean;
  error?: string;
}

interface Pending {
  clientMsgId: string;
  body: string;
  failed?: string;
}

/**
 * MessageLog keeps a conversation's messages de-duplicated and ordered by seq,
 * plus the visitor's own messages that the server has not acknowledged yet.
 */
export class MessageLog {
  private bySeq = new Map<number, Message>();
  private pending = new Map<string, Pending>();
  private ackedIds = new Set<string>();
  private delivered = 0;
  private read = 0;

  /** Adds a message; returns false if its seq was already known (a duplicate). */
  add(m: Message): boolean {
    if (!Number.isInteger(m.seq) || m.seq < 1) return false;
    if (m.client_msg_id && this.pending.has(m.client_msg_id)) {
      this.pending.delete(m.client_msg_id);
      this.ackedIds.add(m.client_msg_id);
    }
    if (this.bySeq.has(m.seq)) return false;
    this.bySeq.set(m.seq, m);
    return true;
  }

  /** Records a message.ack: the pending message becomes the stored one. */
  ack(clientMsgId: string, m: Message): void {
    this.pending.delete(clientMsgId);
    this.ackedIds.add(clientMsgId);
    this.add(m);
  }

  /** Queues a message as sending. */
  addPending(clientMsgId: string, body: string): void {
    if (this.ackedIds.has(clientMsgId)) return;
    this.pending.set(clientMsgId, { clientMsgId, body });
  }

  /** Marks a pending message refused (an error frame naming it). */
  fail(clientMsgId: string, reason: string): void {
    const p = this.pending.get(clientMsgId);
    if (p) p.failed = reason;
  }

  /** Messages still waiting for an ack, oldest first, to re-send after a reconnect. */
  unacked(): { clientMsgId: string; body: string }[] {
    return [...this.pending.values()].filter((p) => !p.failed).map(({ clientMsgId, body }) => ({ clientMsgId, body }));
  }

  /** The highest seq seen, the after_seq of the next connection. */
  highestSeq(): number {
    let max = 0;
    for (const s of this.bySeq.keys()) if (s > max) max = s;
    return max;
  }

  /** Applies a receipt from the other side (cumulative up to seq). */
  receipt(kind: 'delivered' | 'read', seq: number): void {
    if (kind === 'read') {
      this.read = Math.max(this.read, seq);
      this.delivered = Math.max(this.delivered, seq);
    } else {
      this.delivered = Math.max(this.delivered, seq);
    }
  }

  /** The transcript: stored messages by seq, then the pending ones in send order. */
  items(ownSender: SenderType = 'visitor'): TranscriptItem[] {
    const seqs = [...this.bySeq.keys()].sort((a, b) => a - b);
    const out: TranscriptItem[] = seqs.map((s) => {
      const m = this.bySeq.get(s)!;
      const own = m.sender_type === ownSender;
      let state: TranscriptItem['state'] = 'sent';
      if (own) {
        if (m.read_at || s <= this.read) state = 'read';
        else if (m.delivered_at || s <= this.delivered) state = 'delivered';
      }
      return { key: 's' + s, seq: s, sender_type: m.sender_type, body: m.body, state, own };
    });
    for (const p of this.pending.values()) {
      out.push({
        key: 'p' + p.clientMsgId,
        seq: null,
        sender_type: ownSender,
        body: p.body,
        state: p.failed ? 'failed' : 'sending',
        own: true,
        error: p.failed,
      });
    }
    return out;
  }
}

/**
 * Exponential backoff with jitter: base * 2^attempt, capped at max, then
 * scaled into [0.5, 1] of that by random() so that clients spread out.
 */
export function backoffDelay(attempt: number, random: () => number = Math.random, base = 500, max = 30_000): number {
  const exp = Math.min(max, base * 2 ** Math.max(0, Math.min(attempt, 30)));
  return Math.round(exp * (0.5 + random() * 0.5));
}

/** The WebSocket URL of a conversation, on the API base's host. */
export function conversationSocketURL(
  apiBase: string,
  conversationId: string,
  token: string,
  tenantId: string,
  afterSeq: number,
): string {
  const u = new URL(`/ws/v1/conversations/${encodeURIComponent(conversationId)}`, apiBase);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  u.searchParams.set('access_token', token);
  u.searchParams.set('tenant_id', tenantId);
  u.searchParams.set('after_seq', String(afterSeq));
  return u.toString();
}

/**
 * TypingThrottle sends typing:true at most once per interval while the user
 * types, and typing:false once when they stop (idle or send).
 */
export class TypingThrottle {
  private lastSent = -Infinity;
  private active = false;
  private idleTimer: unknown;

  constructor(
    private send: (active: boolean) => void,
    private now: () => number = Date.now,
    private interval = 2000,
    private idleAfter = 3000,
    // Arrow wrappers: browsers throw "Illegal invocation" when setTimeout is
    // called as a method of another object.
    private timers: { set: (fn: () => void, ms: number) => unknown; clear: (id: unknown) => void } = {
      set: (fn, ms) => setTimeout(fn, ms),
      clear: (id) => clearTimeout(id as ReturnType<typeof setTimeout>),
    },
  ) {}

  /** Call on every keystroke. */
  input(): void {
    const t = this.now();
    if (!this.active || t - this.lastSent >= this.interval) {
      this.active = true;
      this.lastSent = t;
      this.send(true);
    }
    if (this.idleTimer !== undefined) this.timers.clear(this.idleTimer);
    this.idleTimer = this.timers.set(() => this.stop(), this.idleAfter);
  }

  /** Call on send, blur or idle. */
  stop(): void {
    if (this.idleTimer !== undefined) this.timers.clear(this.idleTimer);
    this.idleTimer = undefined;
    if (this.active) {
      this.active = false;
      this.lastSent = -Infinity;
      this.send(false);
    }
  }
}

/** A random client_msg_id (crypto when available). */
export function newClientMsgId(): string {
  const c = (globalThis as { crypto?: Crypto }).crypto;
  if (c && typeof c.randomUUID === 'function') return c.randomUUID();
  const bytes = new Uint8Array(16);
  if (c && typeof c.getRandomValues === 'function') c.getRandomValues(bytes);
  else for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Seconds-since-epoch exp claim of a JWT, or 0 if it cannot be read. */
export function tokenExpiry(token: string): number {
  const part = token.split('.')[1];
  if (!part) return 0;
  try {
    const json = atob(part.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((part.length + 3) % 4));
    const exp = (JSON.parse(json) as { exp?: unknown }).exp;
    return typeof exp === 'number' ? exp : 0;
  } catch {
    return 0;
  }
}

/** Human text for a conversation status. */
export function statusText(status: ConversationStatus | undefined): string {
  switch (status) {
    case 'queued':
      return 'Waiting for an agent…';
    case 'active':
      return 'An agent is here';
    case 'closed':
      return 'This conversation is closed';
    case 'missed':
      return 'No agent is available right now';
    default:
      return 'Connecting…';
  }
}
