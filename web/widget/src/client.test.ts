import { describe, expect, it } from 'vitest';
import { WidgetClient, type SocketLike } from './client';
import type { Message } from './protocol';

class FakeSocket implements SocketLike {
  readyState = 0;
  sent: Record<string, unknown>[] = [];
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: unknown) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  constructor(public url: string) {}
  send(data: string) {
    this.sent.push(JSON.parse(data));
  }
  close() {
    this.readyState = 3;
  }
  open() {
    this.readyState = 1;
    this.onopen?.({});
  }
  frame(f: unknown) {
    this.onmessage?.({ data: JSON.stringify(f) });
  }
  drop() {
    this.readyState = 3;
    this.onclose?.({});
  }
}

function jwt(exp: number) {
  return `h.${btoa(JSON.stringify({ exp })).replace(/=+$/, '')}.s`;
}

function setup(opts: { sessionStatus?: number; convIds?: string[]; exp?: number } = {}) {
  const sockets: FakeSocket[] = [];
  const requests: Record<string, unknown>[] = [];
  const timers: { fn: () => void; ms: number }[] = [];
  const store = new Map<string, string>();
  let now = 1_000_000_000_000;
  let n = 0;
  const client = new WidgetClient({
    apiBase: 'https://chat.example',
    widgetKey: 'wk1',
    fetch: (async (_url: string, init: RequestInit) => {
      requests.push(JSON.parse(String(init.body)));
      if (opts.sessionStatus && opts.sessionStatus !== 201) {
        return new Response(JSON.stringify({ error: { code: 'not_found', message: 'unknown widget' } }), { status: opts.sessionStatus });
      }
      const id = opts.convIds?.[n] ?? 'c1';
      n++;
      return new Response(
        JSON.stringify({
          token: jwt(opts.exp ?? now / 1000 + 3600),
          tenant_id: 't1',
          conversation: { id, tenant_id: 't1', status: 'queued', last_seq: 0 },
          contact: { id: 'v1' },
        }),
        { status: 201 },
      );
    }) as unknown as typeof fetch,
    newSocket: (url) => {
      const s = new FakeSocket(url);
      sockets.push(s);
      return s;
    },
    storage: { getItem: (k) => store.get(k) ?? null, setItem: (k, v) => void store.set(k, v), removeItem: (k) => void store.delete(k) },
    random: () => 1,
    now: () => now,
    setTimeout: (fn, ms) => {
      timers.push({ fn, ms });
      return timers.length;
    },
    clearTimeout: () => undefined,
  });
  const runTimer = async (ms: number) => {
    const i = timers.findIndex((t) => t.ms === ms);
    if (i < 0) throw new Error(`no timer of ${ms} ms: ${timers.map((t) => t.ms).join(',')}`);
    const [t] = timers.splice(i, 1);
    t.fn();
    await new Promise((r) => setTimeout(r, 0));
    await new Promise((r) => setTimeout(r, 0));
  };
  return { client, sockets, requests, timers, store, runTimer, advance: (ms: number) => (now += ms) };
}

const m = (seq: number, over: Partial<Message> = {}): Message => ({
  id: 'm' + seq,
  conversation_id: 'c1',
  seq,
  sender_type: 'agent',
  sender_id: 'a1',
  body: 'agent ' + seq,
  created_at: '2025-01-01T00:00:00Z',
  ...over,
});

describe('WidgetClient', () => {
  it('creates a session, stores the resume token and connects with after_seq=0', async () => {
    const { client, sockets, requests, store } = setup();
    await client.start({ name: 'Ann' });
    expect(requests[0]).toMatchObject({ widget_key: 'wk1', name: 'Ann' });
    expect(typeof requests[0].resume_token).toBe('string');
    expect(store.get('chorus.resume.wk1')).toBe(requests[0].resume_token);
    expect(client.status).toBe('queued');
    const u = new URL(sockets[0].url);
    expect(u.origin).toBe('wss://chat.example');
    expect(u.searchParams.get('after_seq')).toBe('0');
    expect(u.searchParams.get('tenant_id')).toBe('t1');
  });

  it('a returning visitor sends the stored resume token', async () => {
    const { client, requests, store } = setup();
    store.set('chorus.resume.wk1', 'saved-token');
    await client.start();
    expect(requests[0].resume_token).toBe('saved-token');
  });

  it('reports a session error', async () => {
    const { client } = setup({ sessionStatus: 404 });
    await expect(client.start()).rejects.toThrow('unknown widget');
    expect(client.connection).toBe('error');
  });

  it('sends optimistically, re-sends unacknowledged messages after reconnect, resumes from the highest seq', async () => {
    const { client, sockets, runTimer } = setup();
    await client.start();
    const s0 = sockets[0];
    s0.open();
    s0.frame({ type: 'hello', conversation_id: 'c1', last_seq: 0 });
    s0.frame({ type: 'message', message: m(1) });
    s0.frame({ type: 'message', message: m(2) });
    const id1 = client.send('  first  ')!;
    expect(s0.sent.find((f) => f.type === 'message.send')).toEqual({ type: 'message.send', client_msg_id: id1, body: 'first' });
    expect(client.log.items().at(-1)).toMatchObject({ state: 'sending', body: 'first' });
    s0.frame({ type: 'message.ack', client_msg_id: id1, message: m(3, { sender_type: 'visitor', client_msg_id: id1, body: 'first' }) });
    expect(client.log.items().at(-1)).toMatchObject({ state: 'sent', seq: 3 });
    const id2 = client.send('second')!;
    // Drop before the ack of "second".
    s0.drop();
    expect(client.connection).toBe('reconnecting');
    await runTimer(500); // backoff attempt 0, random()=1
    const s1 = sockets[1];
    expect(new URL(s1.url).searchParams.get('after_seq')).toBe('3');
    s1.open();
    expect(s1.sent).toEqual([]); // nothing before hello
    s1.frame({ type: 'hello', conversation_id: 'c1', last_seq: 3 });
    expect(s1.sent.filter((f) => f.type === 'message.send')).toEqual([{ type: 'message.send', client_msg_id: id2, body: 'second' }]);
    // Replayed duplicates are dropped.
    s1.frame({ type: 'message', message: m(3, { sender_type: 'visitor', client_msg_id: id1, body: 'first' }) });
    s1.frame({ type: 'message', message: m(4, { sender_type: 'visitor', client_msg_id: id2, body: 'second' }) });
    expect(client.log.items().map((i) => [i.seq, i.state])).toEqual([
      [1, 'sent'],
      [2, 'sent'],
      [3, 'sent'],
      [4, 'sent'],
    ]);
    expect(client.log.unacked()).toEqual([]);
  });

  it('backs off exponentially while the server is away', async () => {
    const { client, sockets, timers, runTimer } = setup();
    await client.start();
    sockets[0].drop();
    expect(timers.at(-1)!.ms).toBe(500);
    await runTimer(500);
    sockets[1].open();
    sockets[1].drop();
    expect(timers.at(-1)!.ms).toBe(1000);
  });

  it('renews the session with the resume token when the token expired', async () => {
    const { client, sockets, requests, runTimer, advance } = setup();
    await client.start();
    sockets[0].open();
    sockets[0].frame({ type: 'hello', conversation_id: 'c1', last_seq: 0 });
    sockets[0].frame({ type: 'message', message: m(1) });
    advance(2 * 3600 * 1000);
    sockets[0].drop();
    await runTimer(500);
    expect(requests).toHaveLength(2);
    expect(requests[1].resume_token).toBe(requests[0].resume_token);
    expect(sockets).toHaveLength(2);
    expect(new URL(sockets[1].url).searchParams.get('after_seq')).toBe('1');
  });

  it('renews the session after repeated refusals before hello', async () => {
    const { client, sockets, requests, runTimer } = setup();
    await client.start();
    sockets[0].drop();
    await runTimer(500);
    sockets[1].drop();
    await runTimer(1000);
    expect(requests).toHaveLength(2);
    expect(sockets).toHaveLength(3);
  });

  it('tracks status, typing, receipts and errors', async () => {
    const { client, sockets } = setup();
    await client.start();
    const s = sockets[0];
    s.open();
    s.frame({ type: 'hello', conversation_id: 'c1', last_seq: 0 });
    s.frame({ type: 'conversation', conversation: { id: 'c1', tenant_id: 't1', status: 'active', assignee_id: 'a1', last_seq: 0 } });
    expect(client.status).toBe('active');
    s.frame({ type: 'typing', conversation_id: 'c1', actor: { type: 'agent', id: 'a1' }, active: true });
    expect(client.agentTyping).toBe(true);
    s.frame({ type: 'message', message: m(1) });
    expect(client.agentTyping).toBe(false);
    // Visible by default: the agent's message is marked read.
    expect(s.sent).toContainEqual({ type: 'read', seq: 1 });
    const id = client.send('mine')!;
    s.frame({ type: 'message.ack', client_msg_id: id, message: m(2, { sender_type: 'visitor', client_msg_id: id, body: 'mine' }) });
    s.frame({ type: 'receipt', conversation_id: 'c1', kind: 'delivered', seq: 2, actor: { type: 'agent', id: 'a1' } });
    expect(client.log.items().at(-1)!.state).toBe('delivered');
    s.frame({ type: 'receipt', conversation_id: 'c1', kind: 'read', seq: 2, actor: { type: 'visitor', id: 'v1' } });
    expect(client.log.items().at(-1)!.state).toBe('delivered'); // our own read receipt is not theirs
    s.frame({ type: 'receipt', conversation_id: 'c1', kind: 'read', seq: 2, actor: { type: 'agent', id: 'a1' } });
    expect(client.log.items().at(-1)!.state).toBe('read');
    const late = client.send('too late')!;
    s.frame({ type: 'error', code: 'conflict', message: 'conversation is closed', client_msg_id: late });
    expect(client.status).toBe('closed');
    expect(client.log.items().at(-1)).toMatchObject({ state: 'failed' });
  });

  it('sends typing throttled and stops typing on send', async () => {
    const { client, sockets } = setup();
    await client.start();
    const s = sockets[0];
    s.open();
    s.frame({ type: 'hello', conversation_id: 'c1', last_seq: 0 });
    client.typingInput();
    client.typingInput();
    client.send('x');
    const kinds = s.sent.filter((f) => f.type !== 'read').map((f) => (f.type === 'typing' ? `typing:${f.active}` : f.type));
    expect(kinds).toEqual(['typing:true', 'typing:false', 'message.send']);
  });

  it('starts a fresh transcript when the renewed session is a new conversation', async () => {
    const { client, sockets, runTimer, advance } = setup({ convIds: ['c1', 'c2'] });
    await client.start();
    sockets[0].open();
    sockets[0].frame({ type: 'hello', conversation_id: 'c1', last_seq: 0 });
    sockets[0].frame({ type: 'message', message: m(1) });
    advance(2 * 3600 * 1000);
    sockets[0].drop();
    await runTimer(500);
    expect(client.session!.conversation.id).toBe('c2');
    expect(client.log.items()).toEqual([]);
    expect(new URL(sockets[1].url).searchParams.get('after_seq')).toBe('0');
  });

  it('stop closes and does not reconnect', async () => {
    const { client, sockets, timers } = setup();
    await client.start();
    const before = timers.length;
    client.stop();
    sockets[0].drop();
    expect(timers.length).toBe(before);
    expect(client.connection).toBe('idle');
  });
});
