// AgentSocket: the one multiplexed /ws/v1/agent connection of the console.
// Reconnects with exponential backoff; onReady fires after every hello so the
// app can resume (re-fetch after the highest seq, re-send pending messages).

import { backoffDelay } from '../../widget/src/protocol';
import type { ServerFrame } from './types';

export interface AgentSocketOptions {
  url: () => string;
  onFrame: (f: ServerFrame) => void;
  onReady: (reconnected: boolean) => void;
  onState?: (state: 'connecting' | 'open' | 'reconnecting' | 'closed') => void;
  /** Called when a socket closes before its hello (refused upgrade, expired token…), with the count in a row. */
  onRefused?: (inARow: number) => void;
  newSocket?: (url: string) => WebSocket;
  /** Jitter source of the backoff (tests pin it). */
  random?: () => number;
}

export class AgentSocket {
  private ws: WebSocket | null = null;
  private ready = false;
  private attempt = 0;
  private everReady = false;
  private refusals = 0;
  private stopped = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private ping: ReturnType<typeof setInterval> | undefined;

  constructor(private o: AgentSocketOptions) {}

  start(): void {
    this.stopped = false;
    this.connect();
  }

  private connect(): void {
    if (this.stopped) return;
    this.o.onState?.(this.everReady ? 'reconnecting' : 'connecting');
    const ws = (this.o.newSocket ?? ((u) => new WebSocket(u)))(this.o.url());
    this.ws = ws;
    ws.onmessage = (ev) => {
      if (this.ws !== ws || typeof ev.data !== 'string') return;
      let f: ServerFrame;
      try {
        f = JSON.parse(ev.data) as ServerFrame;
      } catch {
        return;
      }
      if (f.type === 'hello') {
        const reconnected = this.everReady;
        this.ready = true;
        this.everReady = true;
        this.attempt = 0;
        this.refusals = 0;
        this.o.onState?.('open');
        this.ping = setInterval(() => this.send({ type: 'ping' }), 25_000);
        this.o.onReady(reconnected);
        return;
      }
      this.o.onFrame(f);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      const wasReady = this.ready;
      this.ready = false;
      clearInterval(this.ping);
      if (this.stopped) return;
      if (!wasReady) this.o.onRefused?.(++this.refusals);
      this.o.onState?.('reconnecting');
      this.timer = setTimeout(() => this.connect(), backoffDelay(this.attempt++, this.o.random));
    };
  }

  /** Sends a frame if the socket is ready; false means it was not sent (it will be re-sent by the caller on onReady). */
  send(frame: Record<string, unknown>): boolean {
    if (!this.ws || !this.ready || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  isReady(): boolean {
    return this.ready;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.ping);
    this.ws?.close(1000, 'bye');
    this.ws = null;
    this.ready = false;
    this.o.onState?.('closed');
  }
}

/** ws(s)://this-host/ws/v1/agent?access_token=…&tenant_id=… */
export function agentSocketURL(loc: { protocol: string; host: string }, token: string, tenantId: string): string {
  const proto = loc.protocol === 'https:' ? 'wss:' : 'ws:';
  const q = new URLSearchParams({ access_token: token, tenant_id: tenantId });
  return `${proto}//${loc.host}/ws/v1/agent?${q.toString()}`;
}
