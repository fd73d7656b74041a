// Entry of widget.js: <script src="https://HOST/widget.js" data-widget-key="KEY" async>.
// The API base is the script's own origin.

import { WidgetClient, type SocketLike } from './client';
import { mountWidget, type WidgetView } from './ui';

declare global {
  interface Window {
    ChorusWidget?: { client: WidgetClient; open(): void; close(): void };
  }
}

const TAG = 'chorus-widget';

function findScript(): HTMLScriptElement | null {
  const cur = document.currentScript as HTMLScriptElement | null;
  if (cur && cur.dataset.widgetKey) return cur;
  return document.querySelector<HTMLScriptElement>('script[data-widget-key]');
}

function boot(): void {
  if (window.ChorusWidget) return;
  const script = findScript();
  const key = script?.dataset.widgetKey;
  if (!script || !key) {
    console.warn('chorus: widget.js needs a data-widget-key attribute');
    return;
  }
  const apiBase = new URL(script.src, location.href).origin;
  if (!customElements.get(TAG)) customElements.define(TAG, class extends HTMLElement {});
  const host = document.createElement(TAG);
  document.body.appendChild(host);

  let view: WidgetView | null = null;
  const client = new WidgetClient({
    apiBase,
    widgetKey: key,
    fetch: (input, init) => fetch(input, init),
    newSocket: (url) => new WebSocket(url) as unknown as SocketLike,
    storage: safeStorage(),
    isVisible: () => !!view && view.isOpen() && document.visibilityState === 'visible',
  });
  view = mountWidget(host, client, { title: script.dataset.title });
  const { open, close } = view;
  document.addEventListener('visibilitychange', () => client.maybeSendRead());
  window.ChorusWidget = { client, open, close };
}

function safeStorage(): Storage | null {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
}

const start = () => {
  // document.currentScript is only set while the script first runs.
  boot();
};
if (document.body) start();
else document.addEventListener('DOMContentLoaded', start);
