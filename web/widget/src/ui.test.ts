// @vitest-environment jsdom
import { describe, expect, it } from 'vitest';
import { WidgetClient, type SocketLike } from './client';
import { mountWidget } from './ui';

class Sock implements SocketLike {
  readyState = 1;
  sent: string[] = [];
  onopen = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose = null;
  onerror = null;
  send(d: string) {
    this.sent.push(d);
  }
  close() {}
}

function setup() {
  const sockets: Sock[] = [];
  const client = new WidgetClient({
    apiBase: 'http://x.test',
    widgetKey: 'k',
    fetch: (async () =>
      new Response(JSON.stringify({ token: 'a.b.c', tenant_id: 't', conversation: { id: 'c1', tenant_id: 't', status: 'queued', last_seq: 0 } }), {
        status: 201,
      })) as unknown as typeof fetch,
    newSocket: () => {
      const s = new Sock();
      sockets.push(s);
      return s;
    },
    storage: null,
  });
  const host = document.createElement('chorus-test-host');
  document.body.appendChild(host);
  const view = mountWidget(host, client);
  const $ = <T extends Element>(sel: string) => view.root.querySelector(sel) as T;
  const frame = (f: unknown) => sockets.at(-1)!.onmessage!({ data: JSON.stringify(f) });
  return { client, view, $, frame, sockets };
}

describe('widget UI', () => {
  it('opens the panel from the launcher and shows the pre-chat form', () => {
    const { view, $ } = setup();
    expect($<HTMLElement>('.panel').hidden).toBe(true);
    $<HTMLButtonElement>('.launcher').click();
    expect(view.isOpen()).toBe(true);
    expect($<HTMLElement>('.panel').hidden).toBe(false);
    expect($<HTMLElement>('form.form').style.display).toBe('');
    $<HTMLButtonElement>('.x').click();
    expect(view.isOpen()).toBe(false);
  });

  it('renders message bodies as text, never HTML, with status and ticks', async () => {
    const { client, view, $, frame } = setup();
    view.open();
    await client.start();
    frame({ type: 'hello', conversation_id: 'c1', last_seq: 0, conversation: { id: 'c1', tenant_id: 't', status: 'queued', last_seq: 0 } });
    expect($('[data-testid="chorus-status"]').textContent).toMatch(/waiting for an agent/i);
    frame({
      type: 'message',
      message: { id: 'm1', conversation_id: 'c1', seq: 1, sender_type: 'agent', sender_id: 'a', body: '<img src=x onerror=alert(1)><b>hi</b>', created_at: '' },
    });
    const msg = $<HTMLElement>('.msg.them');
    expect(msg.textContent).toContain('<img src=x onerror=alert(1)><b>hi</b>');
    expect(view.root.querySelector('.msg img, .msg b')).toBeNull();
    client.send('mine');
    expect($<HTMLElement>('.msg.own').dataset.state).toBe('sending');
    frame({ type: 'conversation', conversation: { id: 'c1', tenant_id: 't', status: 'closed', last_seq: 1 } });
    expect($('[data-testid="chorus-status"]').textContent).toMatch(/closed/i);
    expect($<HTMLTextAreaElement>('textarea').disabled).toBe(true);
  });

  it('sends on Enter from the composer and clears it', async () => {
    const { client, view, $, frame, sockets } = setup();
    view.open();
    await client.start();
    frame({ type: 'hello', conversation_id: 'c1', last_seq: 0 });
    const ta = $<HTMLTextAreaElement>('textarea');
    ta.value = 'hello there';
    ta.dispatchEvent(new Event('input'));
    ta.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter' }));
    const sent = sockets[0].sent.map((s) => JSON.parse(s));
    expect(sent.map((f) => f.type)).toEqual(['typing', 'typing', 'message.send']);
    expect(sent[2].body).toBe('hello there');
    expect(ta.value).toBe('');
  });
});
