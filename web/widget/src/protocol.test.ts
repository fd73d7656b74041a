import { describe, expect, it, vi } from 'vitest';
import { MessageLog, TypingThrottle, backoffDelay, conversationSocketURL, tokenExpiry, type Message } from './protocol';

function msg(seq: number, over: Partial<Message> = {}): Message {
  return {
    id: 'm' + seq,
    conversation_id: 'c1',
    seq,
    sender_type: 'agent',
    sender_id: 'a1',
    body: 'body ' + seq,
    created_at: '2025-01-01T00:00:00Z',
    ...over,
  };
}

describe('MessageLog', () => {
  it('drops duplicates by seq and orders by seq', () => {
    const log = new MessageLog();
    expect(log.add(msg(3))).toBe(true);
    expect(log.add(msg(1))).toBe(true);
    expect(log.add(msg(3, { body: 'replayed' }))).toBe(false);
    expect(log.add(msg(2))).toBe(true);
    const items = log.items();
    expect(items.map((i) => i.seq)).toEqual([1, 2, 3]);
    expect(items[2].body).toBe('body 3');
    expect(log.highestSeq()).toBe(3);
  });

  it('ignores messages without a valid seq', () => {
    const log = new MessageLog();
    expect(log.add(msg(0))).toBe(false);
    expect(log.add({ ...msg(1), seq: 1.5 })).toBe(false);
    expect(log.items()).toHaveLength(0);
  });

  it('shows a pending message as sending until ack, then in seq order', () => {
    const log = new MessageLog();
    log.add(msg(1));
    log.addPending('c-1', 'hello');
    let items = log.items();
    expect(items).toHaveLength(2);
    expect(items[1]).toMatchObject({ seq: null, state: 'sending', own: true, body: 'hello' });
    expect(log.unacked()).toEqual([{ clientMsgId: 'c-1', body: 'hello' }]);

    log.ack('c-1', msg(2, { sender_type: 'visitor', client_msg_id: 'c-1', body: 'hello' }));
    items = log.items();
    expect(items).toHaveLength(2);
    expect(items[1]).toMatchObject({ seq: 2, state: 'sent', own: true });
    expect(log.unacked()).toEqual([]);
  });

  it('a message frame carrying our client_msg_id settles the pending copy', () => {
    const log = new MessageLog();
    log.addPending('c-9', 'hi');
    log.add(msg(1, { sender_type: 'visitor', client_msg_id: 'c-9', body: 'hi' }));
    expect(log.unacked()).toEqual([]);
    expect(log.items()).toHaveLength(1);
    // A late ack for the same message adds nothing.
    log.ack('c-9', msg(1, { sender_type: 'visitor', client_msg_id: 'c-9', body: 'hi' }));
    expect(log.items()).toHaveLength(1);
    // Re-adding an acknowledged id as pending is refused.
    log.addPending('c-9', 'hi');
    expect(log.unacked()).toEqual([]);
  });

  it('keeps failed messages out of the re-send list', () => {
    const log = new MessageLog();
    log.addPending('a', 'one');
    log.addPending('b', 'two');
    log.fail('a', 'conversation closed');
    expect(log.unacked().map((p) => p.clientMsgId)).toEqual(['b']);
    expect(log.items()[0]).toMatchObject({ state: 'failed', error: 'conversation closed' });
  });

  it('applies cumulative delivered and read receipts to own messages only', () => {
    const log = new MessageLog();
    log.add(msg(1, { sender_type: 'visitor' }));
    log.add(msg(2, { sender_type: 'visitor' }));
    log.add(msg(3, { sender_type: 'agent' }));
    log.add(msg(4, { sender_type: 'visitor' }));
    log.receipt('delivered', 2);
    log.receipt('read', 1);
    expect(log.items().map((i) => i.state)).toEqual(['read', 'delivered', 'sent', 'sent']);
    log.receipt('delivered', 1); // older receipt never goes back
    log.receipt('read', 4);
    expect(log.items().map((i) => i.state)).toEqual(['read', 'read', 'sent', 'read']);
  });

  it('honours delivered_at/read_at stored on replayed messages', () => {
    const log = new MessageLog();
    log.add(msg(1, { sender_type: 'visitor', delivered_at: '2025-01-01T00:00:01Z' }));
    log.add(msg(2, { sender_type: 'visitor', read_at: '2025-01-01T00:00:02Z' }));
    expect(log.items().map((i) => i.state)).toEqual(['delivered', 'read']);
  });
});

describe('backoffDelay', () => {
  it('grows exponentially, with jitter between half and full', () => {
    expect(backoffDelay(0, () => 1)).toBe(500);
    expect(backoffDelay(0, () => 0)).toBe(250);
    expect(backoffDelay(1, () => 1)).toBe(1000);
    expect(backoffDelay(3, () => 1)).toBe(4000);
    expect(backoffDelay(3, () => 0)).toBe(2000);
  });
  it('is capped', () => {
    expect(backoffDelay(10, () => 1)).toBe(30_000);
    expect(backoffDelay(1000, () => 1)).toBe(30_000);
    expect(backoffDelay(-5, () => 1)).toBe(500);
  });
});

describe('conversationSocketURL', () => {
  it('uses ws for http and carries token, tenant and after_seq', () => {
    const u = new URL(conversationSocketURL('http://chat.example:8080', 'c/1', 'tok', 'ten', 7));
    expect(u.protocol).toBe('ws:');
    expect(u.host).toBe('chat.example:8080');
    expect(u.pathname).toBe('/ws/v1/conversations/c%2F1');
    expect(u.searchParams.get('access_token')).toBe('tok');
    expect(u.searchParams.get('tenant_id')).toBe('ten');
    expect(u.searchParams.get('after_seq')).toBe('7');
  });
  it('uses wss for https', () => {
    expect(conversationSocketURL('https://x.test', 'c', 't', 'n', 0)).toMatch(/^wss:\/\/x\.test\/ws\/v1\/conversations\/c\?/);
  });
});

describe('TypingThrottle', () => {
  it('sends active at most once per interval and inactive once on stop', () => {
    let now = 0;
    const sent: boolean[] = [];
    const timers = { set: vi.fn(() => 1 as unknown as ReturnType<typeof setTimeout>), clear: vi.fn() };
    const t = new TypingThrottle((a) => sent.push(a), () => now, 2000, 3000, timers as never);
    t.input();
    now = 500;
    t.input();
    now = 1999;
    t.input();
    expect(sent).toEqual([true]);
    now = 2000;
    t.input();
    expect(sent).toEqual([true, true]);
    t.stop();
    t.stop();
    expect(sent).toEqual([true, true, false]);
    now = 2100;
    t.input(); // typing again right after stop sends at once
    expect(sent).toEqual([true, true, false, true]);
  });
  it('calls the global timers unbound (browsers throw Illegal invocation otherwise)', () => {
    const real = globalThis.setTimeout;
    const strict = function (this: unknown, fn: () => void, ms?: number) {
      if (this !== undefined && this !== globalThis) throw new TypeError('Illegal invocation');
      return real(fn, ms);
    };
    globalThis.setTimeout = strict as typeof setTimeout;
    try {
      const t = new TypingThrottle(() => undefined);
      expect(() => t.input()).not.toThrow();
      t.stop();
    } finally {
      globalThis.setTimeout = real;
    }
  });
  it('goes idle after the idle timeout', () => {
    vi.useFakeTimers();
    try {
      const sent: boolean[] = [];
      const t = new TypingThrottle((a) => sent.push(a), Date.now, 2000, 3000);
      t.input();
      vi.advanceTimersByTime(2999);
      expect(sent).toEqual([true]);
      vi.advanceTimersByTime(1);
      expect(sent).toEqual([true, false]);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('tokenExpiry', () => {
  it('reads exp from a JWT payload', () => {
    const payload = btoa(JSON.stringify({ sub: 'x', exp: 1700000000 })).replace(/=+$/, '');
    expect(tokenExpiry(`h.${payload}.s`)).toBe(1700000000);
  });
  it('returns 0 for garbage', () => {
    expect(tokenExpiry('nope')).toBe(0);
    expect(tokenExpiry('a.!!!.b')).toBe(0);
  });
});
