// The widget's DOM: a custom element host with a Shadow DOM, an inner
// `all: initial` wrapper so the host page's styles cannot leak in, a launcher
// bubble and a chat panel. Message bodies are only ever set via textContent.

import type { WidgetClient } from './client';
import { statusText, type TranscriptItem } from './protocol';

const SVG_NS = 'http://www.w3.org/2000/svg';

function icon(paths: string[], size = 20, cls = ''): SVGSVGElement {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('width', String(size));
  svg.setAttribute('height', String(size));
  svg.setAttribute('fill', 'none');
  svg.setAttribute('stroke', 'currentColor');
  svg.setAttribute('stroke-width', '2');
  svg.setAttribute('stroke-linecap', 'round');
  svg.setAttribute('stroke-linejoin', 'round');
  svg.setAttribute('aria-hidden', 'true');
  if (cls) svg.setAttribute('class', cls);
  for (const d of paths) {
    const p = document.createElementNS(SVG_NS, 'path');
    p.setAttribute('d', d);
    svg.appendChild(p);
  }
  return svg;
}

const ICON_CHAT = ['M21 12a8 8 0 0 1-11.6 7.1L4 20l1-4.6A8 8 0 1 1 21 12z'];
const ICON_CLOSE = ['M6 6l12 12', 'M18 6L6 18'];
const ICON_SEND = ['M4 12l16-8-6 16-2.5-6.5z', 'M11.5 13.5L20 4'];
const ICON_CHECK = ['M5 12l5 5 9-10'];
const ICON_DOUBLE = ['M2 12l5 5 9-10', 'M11 16l1 1 9-10'];
const ICON_CLOCK = ['M12 7v5l3 2', 'M21 12a9 9 0 1 1-18 0 9 9 0 0 1 18 0z'];

const CSS = `
:host{all:initial}
.root{all:initial;font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;font-size:14px;line-height:1.4;color:#1f2933;position:fixed;right:20px;bottom:20px;z-index:2147483000}
.root *{box-sizing:border-box;font-family:inherit}
.launcher{width:56px;height:56px;border-radius:50%;border:0;background:#2563eb;color:#fff;cursor:pointer;display:flex;align-items:center;justify-content:center;box-shadow:0 6px 20px rgba(0,0,0,.25)}
.launcher:hover{background:#1d4ed8}
.panel{position:absolute;right:0;bottom:70px;width:340px;max-width:calc(100vw - 40px);height:480px;max-height:calc(100vh - 110px);background:#fff;border-radius:14px;box-shadow:0 12px 40px rgba(0,0,0,.25);display:flex;flex-direction:column;overflow:hidden}
.panel[hidden]{display:none}
.head{background:#2563eb;color:#fff;padding:12px 14px;display:flex;align-items:center;gap:8px}
.head .t{flex:1}
.title{font-weight:600;font-size:15px}
.status{font-size:12px;opacity:.9}
.x{background:transparent;border:0;color:#fff;cursor:pointer;padding:4px;display:flex}
.log{flex:1;overflow-y:auto;padding:12px;display:flex;flex-direction:column;gap:6px;background:#f5f7fa}
.msg{max-width:80%;padding:7px 10px;border-radius:12px;white-space:pre-wrap;word-wrap:break-word;overflow-wrap:anywhere}
.msg.them{align-self:flex-start;background:#fff;border:1px solid #e4e7eb}
.msg.own{align-self:flex-end;background:#2563eb;color:#fff}
.msg.system{align-self:center;background:transparent;color:#52606d;font-size:12px}
.msg.failed{background:#b91c1c}
.meta{display:flex;justify-content:flex-end;align-items:center;gap:3px;font-size:11px;opacity:.85;margin-top:2px}
.meta .read{color:#a7f3d0}
.typing{font-size:12px;color:#52606d;padding:0 12px 4px;min-height:18px;background:#f5f7fa}
.form{padding:14px;display:flex;flex-direction:column;gap:8px;flex:1}
.form p{margin:0 0 4px}
input,textarea{font-size:14px;border:1px solid #cbd2d9;border-radius:8px;padding:8px;color:#1f2933;background:#fff;width:100%}
textarea{resize:none;height:40px;flex:1}
.btn{background:#2563eb;color:#fff;border:0;border-radius:8px;padding:9px 12px;cursor:pointer;font-size:14px}
.btn:disabled{opacity:.5;cursor:default}
.compose{display:flex;gap:6px;padding:8px;border-top:1px solid #e4e7eb;align-items:center}
.send{width:40px;height:40px;padding:0;display:flex;align-items:center;justify-content:center}
.err{color:#b91c1c;font-size:12px}
`;

export interface ViewOptions {
  title?: string;
}

export interface WidgetView {
  open(): void;
  close(): void;
  isOpen(): boolean;
  root: ShadowRoot;
}

/** Mounts the widget UI for client into host (a custom element). */
export function mountWidget(host: HTMLElement, client: WidgetClient, opts: ViewOptions = {}): WidgetView {
  const shadow = host.attachShadow({ mode: 'open' });
  const style = document.createElement('style');
  style.textContent = CSS;
  shadow.appendChild(style);

  const root = el('div', 'root');
  shadow.appendChild(root);

  const panel = el('div', 'panel');
  panel.hidden = true;
  panel.setAttribute('role', 'dialog');
  panel.setAttribute('aria-label', 'Chat');
  const launcher = el('button', 'launcher') as HTMLButtonElement;
  launcher.type = 'button';
  launcher.setAttribute('aria-label', 'Open chat');
  launcher.setAttribute('part', 'launcher');
  launcher.appendChild(icon(ICON_CHAT, 26));
  root.append(panel, launcher);

  // Header.
  const head = el('div', 'head');
  const t = el('div', 't');
  const title = el('div', 'title');
  title.textContent = opts.title || 'Chat with us';
  const status = el('div', 'status');
  status.setAttribute('data-testid', 'chorus-status');
  t.append(title, status);
  const closeBtn = el('button', 'x') as HTMLButtonElement;
  closeBtn.type = 'button';
  closeBtn.setAttribute('aria-label', 'Minimise chat');
  closeBtn.appendChild(icon(ICON_CLOSE, 18));
  head.append(t, closeBtn);

  // Pre-chat form.
  const form = el('form', 'form') as HTMLFormElement;
  const intro = el('p');
  intro.textContent = 'Hi! Tell us who you are and we will connect you with an agent.';
  const name = el('input') as HTMLInputElement;
  name.placeholder = 'Your name (optional)';
  name.name = 'name';
  name.autocomplete = 'name';
  const email = el('input') as HTMLInputElement;
  email.placeholder = 'E-mail (optional)';
  email.type = 'email';
  email.name = 'email';
  email.autocomplete = 'email';
  const startBtn = el('button', 'btn') as HTMLButtonElement;
  startBtn.type = 'submit';
  startBtn.textContent = 'Start chat';
  const formErr = el('div', 'err');
  form.append(intro, name, email, startBtn, formErr);

  // Conversation.
  const log = el('div', 'log');
  log.setAttribute('aria-live', 'polite');
  log.setAttribute('data-testid', 'chorus-log');
  const typing = el('div', 'typing');
  const compose = el('form', 'compose') as HTMLFormElement;
  const input = el('textarea') as HTMLTextAreaElement;
  input.placeholder = 'Type a message…';
  input.setAttribute('aria-label', 'Message');
  input.maxLength = 4000;
  const sendBtn = el('button', 'btn send') as HTMLButtonElement;
  sendBtn.type = 'submit';
  sendBtn.setAttribute('aria-label', 'Send');
  sendBtn.appendChild(icon(ICON_SEND, 18));
  compose.append(input, sendBtn);

  panel.append(head, form, log, typing, compose);

  let isOpen = false;
  const chatting = () => client.session !== null;

  function render(): void {
    const inChat = chatting();
    form.hidden = inChat;
    form.style.display = inChat ? 'none' : '';
    log.style.display = inChat ? '' : 'none';
    typing.style.display = inChat ? '' : 'none';
    compose.style.display = inChat ? '' : 'none';
    startBtn.disabled = client.connection === 'starting';
    formErr.textContent = client.connection === 'error' ? client.lastError : '';
    let s = statusText(client.status);
    if (inChat && client.connection === 'reconnecting') s = 'Reconnecting…';
    status.textContent = inChat ? s : 'We usually reply in a few minutes';
    const closed = client.status === 'closed';
    input.disabled = closed;
    sendBtn.disabled = closed;
    typing.textContent = client.agentTyping ? 'Agent is typing…' : '';
    renderLog(log, client.log.items());
  }

  client.subscribe(render);

  function open(): void {
    isOpen = true;
    panel.hidden = false;
    launcher.setAttribute('aria-label', 'Close chat');
    // A returning visitor resumes at once.
    if (!chatting() && client.storedResumeToken() && client.connection === 'idle') {
      client.start().catch(() => undefined);
    }
    render();
    client.maybeSendRead();
    if (chatting()) input.focus();
  }
  function close(): void {
    isOpen = false;
    panel.hidden = true;
    launcher.setAttribute('aria-label', 'Open chat');
    client.typingStop();
  }

  launcher.addEventListener('click', () => (isOpen ? close() : open()));
  closeBtn.addEventListener('click', close);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    client
      .start({ name: name.value.trim(), email: email.value.trim() })
      .then(() => input.focus())
      .catch(() => undefined);
  });
  compose.addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (client.send(input.value)) input.value = '';
  });
  input.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey) {
      ev.preventDefault();
      compose.requestSubmit();
    }
  });
  input.addEventListener('input', () => {
    if (input.value.trim()) client.typingInput();
    else client.typingStop();
  });
  input.addEventListener('blur', () => client.typingStop());

  render();
  return { open, close, isOpen: () => isOpen, root: shadow };
}

function el(tag: string, cls = ''): HTMLElement {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  return e;
}

function renderLog(log: HTMLElement, items: TranscriptItem[]): void {
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  const existing = new Map<string, HTMLElement>();
  for (const child of Array.from(log.children) as HTMLElement[]) existing.set(child.dataset.key || '', child);
  const frag = document.createDocumentFragment();
  for (const it of items) {
    const node = existing.get(it.key) || el('div');
    node.dataset.key = it.key;
    node.className = 'msg ' + (it.sender_type === 'system' ? 'system' : it.own ? 'own' : 'them') + (it.state === 'failed' ? ' failed' : '');
    node.setAttribute('data-state', it.state);
    node.replaceChildren();
    const body = el('div', 'body');
    body.textContent = it.body;
    node.appendChild(body);
    if (it.own) {
      const meta = el('div', 'meta');
      const label = el('span');
      switch (it.state) {
        case 'sending':
          meta.appendChild(icon(ICON_CLOCK, 12));
          label.textContent = 'Sending';
          break;
        case 'failed':
          label.textContent = 'Not sent' + (it.error ? ': ' + it.error : '');
          break;
        case 'sent':
          meta.appendChild(icon(ICON_CHECK, 14));
          label.textContent = 'Sent';
          break;
        case 'delivered':
          meta.appendChild(icon(ICON_DOUBLE, 14));
          label.textContent = 'Delivered';
          break;
        case 'read':
          meta.appendChild(icon(ICON_DOUBLE, 14, 'read'));
          label.textContent = 'Read';
          break;
      }
      meta.appendChild(label);
      node.appendChild(meta);
    }
    frag.appendChild(node);
  }
  log.replaceChildren(frag);
  if (atBottom) log.scrollTop = log.scrollHeight;
}
