import { afterEach, describe, expect, it, vi } from 'vitest';
import { AgentSocket, agentSocketURL } from './agent-socket';

class FakeWS {
  readyState = 1;
  sent: unknown[] = [];
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: (() => void) | null = null;
  constructor(public url: string) {}
  send(d: string) {
    this.sent.push(JSON.parse(d));
  }
  close() {
    this.readyState = 3;
  }
  frame(f: unknown) {
    this.onmessage?.({ data: JSON.stringify(f) });
  }
  drop() {
    this.readyState = 3;
    this.onclose?.();
  }
}

afterEach(() => vi.useRealTimers());

describe('AgentSocket', () => {
  it('reports ready after hello, reconnects with backoff and flags the reconnect', () => {
    vi.useFakeTimers();
    const sockets: FakeWS[] = [];
    const ready: boolean[] = [];
    const frames: unknown[] = [];
    const refused: number[] = [];
    const states: string[] = [];
    const s = new AgentSocket({
      url: () => 'ws://h/ws/v1/agent',
      random: () => 1,
      onFrame: (f) => frames.push(f),
      onReady: (r) => ready.push(r),
      onRefused: (n) => refused.push(n),
      onState: (st) => states.push(st),
      newSocket: (u) => {
        const w = new FakeWS(u);
        sockets.push(w);
        return w as unknown as WebSocket;
      },
    });
    s.start();
    expect(s.send({ type: 'ping' })).toBe(false); // not before hello
    sockets[0].frame({ type: 'hello', agent_id: 'me' });
    expect(ready).toEqual([false]);
    expect(s.isReady()).toBe(true);
    expect(s.send({ type: 'typing', conversation_id: 'c', active: true })).toBe(true);
    sockets[0].frame({ type: 'queue', conversation: { id: 'c' }, position: 1 });
    sockets[0].onmessage?.({ data: 'not json' });
    expect(frames).toHaveLength(1);

    sockets[0].drop();
    expect(s.isReady()).toBe(false);
    expect(refused).toEqual([]);
    vi.advanceTimersByTime(500);
    expect(sockets).toHaveLength(2);
    sockets[1].drop(); // refused before hello
    expect(refused).toEqual([1]);
    vi.advanceTimersByTime(999);
    expect(sockets).toHaveLength(2);
    vi.advanceTimersByTime(1);
    expect(sockets).toHaveLength(3);
    sockets[2].frame({ type: 'hello', agent_id: 'me' });
    expect(ready).toEqual([false, true]);
    expect(states).toContain('reconnecting');

    s.stop();
    sockets[2].drop();
    vi.advanceTimersByTime(60_000);
    expect(sockets).toHaveLength(3);
  });

  it('builds the socket URL for http and https', () => {
    expect(agentSocketURL({ protocol: 'http:', host: 'a:1' }, 't k', 'ten')).toBe('ws://a:1/ws/v1/agent?access_token=t+k&tenant_id=ten');
    expect(agentSocketURL({ protocol: 'https:', host: 'a' }, 't', 'n')).toMatch(/^wss:\/\/a\/ws\/v1\/agent\?/);
  });
});
