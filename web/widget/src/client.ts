// WidgetClient: the visitor side of the protocol (session, socket, resume,
// pending messages, typing, receipts). Browser objects are injected so the
// whole flow runs in unit tests without a browser.

import {
  MessageLog,
  TypingThrottle,
  backoffDelay,
  conversationSocketURL,
  newClientMsgId,
  tokenExpiry,
  type Conversation,
  type ConversationStatus,
  type ServerFrame,
} from './protocol';

export interface Session {
  token: string;
  tenant_id: string;
  conversation: Conversation;
  contact?: { id: string; name?: string; email?: string };
  resume_token?: string;
}

export interface SocketLike {
  readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: unknown) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

export interface ClientDeps {
  apiBase: string;
  widgetKey: string;
  fetch: typeof fetch;
  newSocket: (url: string) => SocketLike;
  storage?: Pick<Storage, 'getItem' | 'setItem' | 'removeItem'> | null;
  random?: () => number;
  now?: () => number;
  setTimeout?: (fn: () => void, ms: number) => unknown;
  clearTimeout?: (id: unknown) => void;
  /** Whether the visitor can see the conversation now (panel open, page visible). */
  isVisible?: () => boolean;
}

export type ConnectionState = 'idle' | 'starting' | 'connecting' | 'open' | 'reconnecting' | 'error';

const OPEN = 1;
const PING_EVERY_MS = 25_000;

export class WidgetClient {
  readonly log = new MessageLog();
  session: Session | null = null;
  status: ConversationStatus | undefined;
  connection: ConnectionState = 'idle';
  agentTyping = false;
  lastError = '';

  private ws: SocketLike | null = null;
  private ready = false; // hello received on the current socket
  private attempt = 0;
  private failuresBeforeHello = 0;
  private stopped = false;
  private reconnectTimer: unknown;
  private pingTimer: unknown;
  private typingTimer: unknown;
  private lastReadSent = 0;
  private listeners = new Set<() => void>();
  private typing: TypingThrottle;
  private d: Required<Omit<ClientDeps, 'storage'>> & { storage: ClientDeps['storage'] };

  constructor(deps: ClientDeps) {
    this.d = {
      random: Math.random,
      now: Date.now,
      setTimeout: (fn, ms) => setTimeout(fn, ms),
      clearTimeout: (id) => clearTimeout(id as ReturnType<typeof setTimeout>),
      isVisible: () => true,
      ...deps,
      storage: deps.storage ?? null,
    };
    this.typing = new TypingThrottle((active) => this.sendFrame({ type: 'typing', active }), this.d.now);
  }

  /** Subscribes to any state change; returns the unsubscribe function. */
  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private emit(): void {
    for (const fn of this.listeners) fn();
  }

  private storageKey(): string {
    return `chorus.resume.${this.d.widgetKey}`;
  }

  /** The stored resume token, if this browser talked to this widget before. */
  storedResumeToken(): string | null {
    try {
      return this.d.storage?.getItem(this.storageKey()) ?? null;
    } catch {
      return null;
    }
  }

  /**
   * Creates (or resumes) the visitor's session and connects. The resume token
   * is generated here the first time and kept per widget key; a token that the
   * server returns replaces it.
   */
  async start(profile: { name?: string; email?: string } = {}): Promise<void> {
    this.stopped = false;
    this.connection = 'starting';
    this.emit();
    try {
      await this.createSession(profile);
    } catch (err) {
      this.connection = 'error';
      this.lastError = err instanceof Error ? err.message : String(err);
      this.emit();
      throw err;
    }
    this.connect();
  }

  private async createSession(profile: { name?: string; email?: string } = {}): Promise<void> {
    let resume = this.storedResumeToken();
    if (!resume) resume = newClientMsgId() + newClientMsgId();
    const body: Record<string, string> = { widget_key: this.d.widgetKey, resume_token: resume };
    if (profile.name) body.name = profile.name;
    if (profile.email) body.email = profile.email;
    const res = await this.d.fetch(new URL('/api/v1/widget/sessions', this.d.apiBase).toString(), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!res.ok) {
      let msg = `chat unavailable (${res.status})`;
      try {
        const e = (await res.json()) as { error?: { message?: string } };
        if (e.error?.message) msg = e.error.message;
      } catch {
        /* keep the generic message */
      }
      throw new Error(msg);
    }
    const s = (await res.json()) as Session;
    try {
      this.d.storage?.setItem(this.storageKey(), s.resume_token || resume);
    } catch {
      /* storage may be disabled: the visitor just won't resume */
    }
    if (this.session && this.session.conversation.id !== s.conversation.id) {
      // A new conversation (the old one closed): start a fresh transcript.
      (this as { log: MessageLog }).log = new MessageLog();
      this.lastReadSent = 0;
    }
    this.session = s;
    this.status = s.conversation.status;
  }

  private connect(): void {
    if (this.stopped || !this.session) return;
    const s = this.session;
    this.ready = false;
    this.connection = this.attempt === 0 ? 'connecting' : 'reconnecting';
    this.emit();
    const url = conversationSocketURL(this.d.apiBase, s.conversation.id, s.token, s.tenant_id, this.log.highestSeq());
    let ws: SocketLike;
    try {
      ws = this.d.newSocket(url);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onmessage = (ev) => {
      if (this.ws !== ws || typeof ev.data !== 'string') return;
      let frame: ServerFrame;
      try {
        frame = JSON.parse(ev.data) as ServerFrame;
      } catch {
        return;
      }
      this.handle(frame);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.stopPing();
      if (!this.ready) this.failuresBeforeHello++;
      this.ready = false;
      this.scheduleReconnect();
    };
    ws.onerror = () => {
      /* onclose follows */
    };
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    this.connection = 'reconnecting';
    this.emit();
    const delay = backoffDelay(this.attempt++, this.d.random);
    this.reconnectTimer = this.d.setTimeout(() => {
      this.reconnectTimer = undefined;
      void this.reconnect();
    }, delay);
  }

  /** Reconnects; renews the session first if the token expired or the socket keeps being refused. */
  private async reconnect(): Promise<void> {
    if (this.stopped || !this.session) return;
    const exp = tokenExpiry(this.session.token);
    const expired = exp > 0 && exp * 1000 - this.d.now() < 30_000;
    if (expired || this.failuresBeforeHello >= 2) {
      try {
        await this.createSession();
        this.failuresBeforeHello = 0;
      } catch {
        this.scheduleReconnect();
        return;
      }
    }
    this.connect();
  }

  /** Applies one server frame. Exposed for tests. */
  handle(f: ServerFrame): void {
    switch (f.type) {
      case 'hello':
        this.ready = true;
        this.attempt = 0;
        this.failuresBeforeHello = 0;
        this.connection = 'open';
        if (f.conversation?.status) this.status = f.conversation.status;
        for (const p of this.log.unacked()) {
          this.sendFrame({ type: 'message.send', client_msg_id: p.clientMsgId, body: p.body });
        }
        this.startPing();
        this.maybeSendRead();
        break;
      case 'message':
        if (this.log.add(f.message)) {
          if (f.message.sender_type === 'agent') this.agentTyping = false;
          this.maybeSendRead();
        }
        break;
      case 'message.ack':
        this.log.ack(f.client_msg_id, f.message);
        break;
      case 'receipt':
        if (f.actor?.type !== 'visitor') this.log.receipt(f.kind, f.seq);
        break;
      case 'typing':
        if (f.actor?.type === 'agent') {
          this.agentTyping = f.active;
          if (this.typingTimer !== undefined) this.d.clearTimeout(this.typingTimer);
          this.typingTimer = f.active
            ? this.d.setTimeout(() => {
                this.agentTyping = false;
                this.emit();
              }, 6000)
            : undefined;
        }
        break;
      case 'conversation':
        if (this.session && f.conversation.id === this.session.conversation.id) {
          this.session.conversation = { ...this.session.conversation, ...f.conversation };
        }
        this.status = f.conversation.status;
        break;
      case 'error':
        if (f.client_msg_id) this.log.fail(f.client_msg_id, f.message || f.code);
        if (f.code === 'conflict') this.status = 'closed';
        this.lastError = f.message || f.code;
        break;
      default:
        return;
    }
    this.emit();
  }

  /** Sends a visitor message: shown at once as sending, re-sent after a reconnect until acknowledged. */
  send(text: string): string | null {
    const body = text.trim();
    if (!body) return null;
    const id = newClientMsgId();
    this.log.addPending(id, body);
    this.typing.stop();
    this.sendFrame({ type: 'message.send', client_msg_id: id, body });
    this.emit();
    return id;
  }

  /** Call on each keystroke in the composer. */
  typingInput(): void {
    this.typing.input();
  }

  /** Call when the composer loses focus. */
  typingStop(): void {
    this.typing.stop();
  }

  /** Sends a read receipt for the newest message from the other side when the visitor can see it. */
  maybeSendRead(): void {
    if (!this.ready || !this.d.isVisible()) return;
    let seq = 0;
    for (const it of this.log.items()) if (!it.own && it.seq !== null && it.seq > seq) seq = it.seq;
    if (seq > this.lastReadSent) {
      this.lastReadSent = seq;
      this.sendFrame({ type: 'read', seq });
    }
  }

  private sendFrame(frame: Record<string, unknown>): boolean {
    const ws = this.ws;
    if (!ws || !this.ready || ws.readyState !== OPEN) return false;
    try {
      ws.send(JSON.stringify(frame));
      return true;
    } catch {
      return false;
    }
  }

  private startPing(): void {
    this.stopPing();
    const tick = () => {
      this.sendFrame({ type: 'ping' });
      this.pingTimer = this.d.setTimeout(tick, PING_EVERY_MS);
    };
    this.pingTimer = this.d.setTimeout(tick, PING_EVERY_MS);
  }

  private stopPing(): void {
    if (this.pingTimer !== undefined) this.d.clearTimeout(this.pingTimer);
    this.pingTimer = undefined;
  }

  /** Closes the socket and stops reconnecting. */
  stop(): void {
    this.stopped = true;
    this.stopPing();
    if (this.reconnectTimer !== undefined) this.d.clearTimeout(this.reconnectTimer);
    const ws = this.ws;
    this.ws = null;
    this.ready = false;
    ws?.close(1000, 'bye');
    this.connection = 'idle';
    this.emit();
  }

  /** For tests: the socket in use. */
  get socket(): SocketLike | null {
    return this.ws;
  }
}
