import { describe, expect, it } from 'vitest';
import type { Conversation, Message } from '../../../lib/types';
import { highestSeq, initialState, messagesOf, mine, pendingOf, queueList, receiptOf, reducer, resendable, type ConsoleState } from './console-store';

const conv = (id: string, over: Partial<Conversation> = {}): Conversation => ({
  id,
  tenant_id: 't',
  contact_id: 'v-' + id,
  status: 'queued',
  assignee_id: null,
  last_seq: 0,
  created_at: '2025-01-01T00:00:00Z',
  ...over,
});
const msg = (c: string, seq: number, over: Partial<Message> = {}): Message => ({
  id: `${c}-${seq}`,
  conversation_id: c,
  seq,
  sender_type: 'visitor',
  sender_id: 'v',
  body: `m${seq}`,
  created_at: '2025-01-01T00:00:00Z',
  ...over,
});

function run(...actions: Parameters<typeof reducer>[1][]): ConsoleState {
  return actions.reduce(reducer, initialState('me'));
}

describe('console store', () => {
  it('de-duplicates messages by seq and orders them, from REST and frames alike', () => {
    const s = run(
      { type: 'history/loaded', conversationId: 'c1', items: [msg('c1', 2), msg('c1', 1)] },
      { type: 'frame', frame: { type: 'message', message: msg('c1', 2, { body: 'dup' }) } },
      { type: 'frame', frame: { type: 'message', message: msg('c1', 4) } },
      { type: 'frame', frame: { type: 'message', message: msg('c1', 3) } },
    );
    expect(messagesOf(s, 'c1').map((m) => [m.seq, m.body])).toEqual([
      [1, 'm1'],
      [2, 'm2'],
      [3, 'm3'],
      [4, 'm4'],
    ]);
    expect(highestSeq(s, 'c1')).toBe(4);
    expect(highestSeq(s, 'nope')).toBe(0);
    expect(messagesOf(s, 'nope')).toEqual([]);
  });

  it('returns the same state object for a pure duplicate', () => {
    const s1 = run({ type: 'frame', frame: { type: 'message', message: msg('c1', 1) } });
    const s2 = reducer(s1, { type: 'frame', frame: { type: 'message', message: msg('c1', 1) } });
    expect(s2).toBe(s1);
  });

  it('keeps a sent message pending until its ack, then de-duplicates the echoed message', () => {
    let s = run({ type: 'pending/add', pending: { clientMsgId: 'x1', conversationId: 'c1', body: 'hello' } });
    s = reducer(s, { type: 'pending/add', pending: { clientMsgId: 'x1', conversationId: 'c1', body: 'hello' } });
    expect(pendingOf(s, 'c1')).toHaveLength(1);
    expect(resendable(s).map((p) => p.clientMsgId)).toEqual(['x1']);
    const stored = msg('c1', 1, { sender_type: 'agent', sender_id: 'me', client_msg_id: 'x1', body: 'hello' });
    s = reducer(s, { type: 'frame', frame: { type: 'message.ack', client_msg_id: 'x1', message: stored } });
    expect(pendingOf(s, 'c1')).toEqual([]);
    s = reducer(s, { type: 'frame', frame: { type: 'message', message: stored } });
    expect(messagesOf(s, 'c1')).toHaveLength(1);
  });

  it('an echoed message settles the pending copy even before the ack', () => {
    let s = run({ type: 'pending/add', pending: { clientMsgId: 'x2', conversationId: 'c1', body: 'yo' } });
    s = reducer(s, { type: 'frame', frame: { type: 'message', message: msg('c1', 1, { sender_type: 'agent', client_msg_id: 'x2' }) } });
    expect(s.pending).toEqual([]);
  });

  it('an error frame marks the pending message failed and shows the error', () => {
    let s = run(
      { type: 'pending/add', pending: { clientMsgId: 'x3', conversationId: 'c9', body: 'late' } },
      { type: 'pending/add', pending: { clientMsgId: 'x4', conversationId: 'c9', body: 'ok' } },
    );
    s = reducer(s, { type: 'frame', frame: { type: 'error', code: 'conflict', message: 'conversation is closed', client_msg_id: 'x3' } });
    expect(s.errors.c9).toBe('conversation is closed');
    expect(pendingOf(s, 'c9')[0].error).toBe('conversation is closed');
    expect(resendable(s).map((p) => p.clientMsgId)).toEqual(['x4']);
    s = reducer(s, { type: 'error/clear', conversationId: 'c9' });
    expect(s.errors.c9).toBeUndefined();
    expect(reducer(s, { type: 'error/clear', conversationId: 'c9' })).toBe(s);
  });

  it('tracks the queue from REST and frames; accepted conversations leave it and become mine', () => {
    let s = run({
      type: 'queue/loaded',
      items: [
        { conversation: conv('a'), position: 2 },
        { conversation: conv('b'), position: 1 },
      ],
    });
    expect(queueList(s).map((q) => q.conversation.id)).toEqual(['b', 'a']);
    s = reducer(s, { type: 'frame', frame: { type: 'queue', conversation: conv('c'), position: 3 } });
    expect(queueList(s).map((q) => [q.conversation.id, q.position])).toEqual([
      ['b', 1],
      ['a', 2],
      ['c', 3],
    ]);
    s = reducer(s, { type: 'frame', frame: { type: 'conversation', conversation: conv('b', { status: 'active', assignee_id: 'me', assigned_at: '2025-01-01T00:01:00Z' }) } });
    s = reducer(s, { type: 'frame', frame: { type: 'conversation', conversation: conv('a', { status: 'active', assignee_id: 'other' }) } });
    expect(queueList(s).map((q) => q.conversation.id)).toEqual(['c']);
    expect(mine(s).map((c) => c.id)).toEqual(['b']);
    s = reducer(s, { type: 'conversation/updated', conversation: conv('b', { status: 'closed', assignee_id: 'me' }) });
    s = reducer(s, { type: 'conversations/loaded', items: [conv('d', { status: 'active', assignee_id: 'me' })] });
    expect(mine(s).map((c) => [c.id, c.status])).toEqual([
      ['d', 'active'],
      ['b', 'closed'],
    ]);
  });

  it('a fresh queue load replaces the old queue', () => {
    let s = run({ type: 'queue/loaded', items: [{ conversation: conv('a'), position: 1 }] });
    s = reducer(s, { type: 'queue/loaded', items: [] });
    expect(queueList(s)).toEqual([]);
  });

  it('applies visitor receipts cumulatively and ignores agent ones', () => {
    let s = run({ type: 'history/loaded', conversationId: 'c1', items: [msg('c1', 1, { sender_type: 'agent' }), msg('c1', 2, { sender_type: 'agent' })] });
    s = reducer(s, { type: 'frame', frame: { type: 'receipt', conversation_id: 'c1', kind: 'delivered', seq: 2, actor: { type: 'visitor', id: 'v' } } });
    s = reducer(s, { type: 'frame', frame: { type: 'receipt', conversation_id: 'c1', kind: 'read', seq: 1, actor: { type: 'visitor', id: 'v' } } });
    expect([receiptOf(s, 'c1', 1), receiptOf(s, 'c1', 2)]).toEqual(['read', 'delivered']);
    const same = reducer(s, { type: 'frame', frame: { type: 'receipt', conversation_id: 'c1', kind: 'read', seq: 2, actor: { type: 'agent', id: 'me' } } });
    expect(same).toBe(s);
    expect(receiptOf(s, 'zz', 1)).toBe('sent');
  });

  it('tracks visitor typing and clears it when the visitor sends', () => {
    let s = run({ type: 'frame', frame: { type: 'typing', conversation_id: 'c1', actor: { type: 'visitor', id: 'v' }, active: true } });
    expect(s.threads.c1.visitorTyping).toBe(true);
    expect(reducer(s, { type: 'frame', frame: { type: 'typing', conversation_id: 'c1', actor: { type: 'agent', id: 'me' }, active: false } })).toBe(s);
    s = reducer(s, { type: 'frame', frame: { type: 'message', message: msg('c1', 1) } });
    expect(s.threads.c1.visitorTyping).toBe(false);
  });

  it('records presence and bumps last_seq', () => {
    let s = run(
      { type: 'frame', frame: { type: 'presence', agent: { id: 'a2', status: 'away' } } },
      { type: 'conversation/updated', conversation: conv('c1', { status: 'active', assignee_id: 'me', last_seq: 1 }) },
      { type: 'frame', frame: { type: 'message', message: msg('c1', 5) } },
    );
    expect(s.presence.a2).toBe('away');
    expect(s.conversations.c1.last_seq).toBe(5);
    // An older snapshot never lowers last_seq.
    s = reducer(s, { type: 'conversation/updated', conversation: conv('c1', { status: 'active', assignee_id: 'me', last_seq: 2 }) });
    expect(s.conversations.c1.last_seq).toBe(5);
  });
});
