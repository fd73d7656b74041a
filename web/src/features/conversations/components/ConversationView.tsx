import { useEffect, useMemo, useRef, useState } from 'react';
import { TypingThrottle } from '../../../../widget/src/protocol';
import { errorText } from '../../../lib/api-client';
import { acceptConversation, closeConversation, transferConversation } from '../api/conversation-actions';
import { getConversation } from '../api/get-conversation';
import type { ConsoleApi } from '../hooks/use-console';
import { highestSeq, messagesOf, pendingOf, receiptOf } from '../store/console-store';

export interface AgentOption {
  id: string;
  name: string;
  status?: string;
}

/** One conversation: history, composer, typing, receipts, accept/transfer/close. */
export function ConversationView(props: { id: string; console: ConsoleApi; agents: AgentOption[] }) {
  const { id, console: c, agents } = props;
  const { state, dispatch } = c;
  const conv = state.conversations[id];
  const msgs = messagesOf(state, id);
  const pending = pendingOf(state, id);
  const thread = state.threads[id];
  const mineNow = conv?.assignee_id === state.me && conv?.status === 'active';
  const [text, setText] = useState('');
  const [busy, setBusy] = useState(false);
  const [transferTo, setTransferTo] = useState('');
  const [loadError, setLoadError] = useState('');
  const logRef = useRef<HTMLDivElement>(null);
  const throttle = useMemo(() => new TypingThrottle((active) => c.typing(id, active)), [c.typing, id]);

  // Load the conversation and its history; poll while it is not mine (the
  // agent socket carries messages only for conversations assigned to me).
  useEffect(() => {
    let cancelled = false;
    setLoadError('');
    getConversation(id)
      .then((conversation) => !cancelled && dispatch({ type: 'conversation/updated', conversation }))
      .catch((e) => !cancelled && setLoadError(errorText(e)));
    c.loadHistory(id).catch((e) => !cancelled && setLoadError(errorText(e)));
    return () => {
      cancelled = true;
      throttle.stop();
    };
  }, [id]); // eslint-disable-line react-hooks/exhaustive-deps

  useEffect(() => {
    if (mineNow) return;
    const t = setInterval(() => void c.loadHistory(id).catch(() => undefined), 4000);
    return () => clearInterval(t);
  }, [id, mineNow, c.loadHistory]); // eslint-disable-line react-hooks/exhaustive-deps

  // Read receipts: the newest visitor message, when this tab is visible.
  const newestVisitorSeq = msgs.reduce((m, x) => (x.sender_type === 'visitor' && x.seq > m ? x.seq : m), 0);
  useEffect(() => {
    if (!mineNow || !newestVisitorSeq) return;
    const mark = () => {
      if (document.visibilityState === 'visible') c.markRead(id, newestVisitorSeq);
    };
    mark();
    document.addEventListener('visibilitychange', mark);
    return () => document.removeEventListener('visibilitychange', mark);
  }, [id, mineNow, newestVisitorSeq, c.markRead]); // eslint-disable-line react-hooks/exhaustive-deps

  useEffect(() => {
    const el = logRef.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [msgs.length, pending.length]);

  async function act(fn: () => Promise<unknown>) {
    setBusy(true);
    dispatch({ type: 'error/clear', conversationId: id });
    try {
      const r = await fn();
      if (r && typeof r === 'object' && 'id' in r) dispatch({ type: 'conversation/updated', conversation: r as never });
    } catch (e) {
      dispatch({ type: 'error/set', conversationId: id, message: errorText(e) });
    } finally {
      setBusy(false);
    }
  }

  function submit(e: React.FormEvent) {
    e.preventDefault();
    if (!text.trim()) return;
    throttle.stop();
    c.send(id, text);
    setText('');
  }

  if (!conv && loadError) return <section className="conversation"><p className="error">{loadError}</p></section>;
  if (!conv) return <section className="conversation"><p className="muted">Loading…</p></section>;

  const error = state.errors[id];
  return (
    <section className="conversation" aria-label="Conversation">
      <header className="conv-head">
        <div>
          <h2>Visitor {conv.contact_id.slice(0, 8)}</h2>
          <span className={`badge ${conv.status}`} data-testid="conv-status">{conv.status}</span>
          {conv.assignee_id && conv.assignee_id !== state.me && <span className="muted"> assigned to {agents.find((a) => a.id === conv.assignee_id)?.name ?? conv.assignee_id}</span>}
        </div>
        <div className="actions">
          {conv.status === 'queued' && (
            <button className="primary" disabled={busy} onClick={() => act(() => acceptConversation(id))}>
              Accept
            </button>
          )}
          {conv.status === 'active' && (
            <>
              <input
                list="agent-options"
                placeholder="Agent id"
                aria-label="Transfer to agent"
                value={transferTo}
                onChange={(e) => setTransferTo(e.target.value)}
              />
              <datalist id="agent-options">
                {agents
                  .filter((a) => a.id !== state.me)
                  .map((a) => (
                    <option key={a.id} value={a.id}>
                      {a.name} ({a.status ?? 'unknown'})
                    </option>
                  ))}
              </datalist>
              <button disabled={busy || !transferTo.trim()} onClick={() => act(() => transferConversation(id, transferTo.trim()))}>
                Transfer
              </button>
              <button className="danger" disabled={busy} onClick={() => act(() => closeConversation(id))}>
                Close
              </button>
            </>
          )}
        </div>
      </header>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <div className="messages" ref={logRef} data-testid="messages">
        {msgs.length === 0 && pending.length === 0 && <p className="muted center">No messages yet.</p>}
        {msgs.map((m) => {
          const own = m.sender_type === 'agent' && m.sender_id === state.me;
          const cls = m.sender_type === 'system' ? 'system' : own ? 'own' : m.sender_type === 'agent' ? 'agent' : 'visitor';
          return (
            <div key={m.seq} className={`msg ${cls}`} data-seq={m.seq}>
              <div className="body">{m.body}</div>
              <div className="meta">
                {new Date(m.created_at).toLocaleTimeString()}
                {own && <span className="tick"> · {receiptOf(state, id, m.seq)}</span>}
              </div>
            </div>
          );
        })}
        {pending.map((p) => (
          <div key={p.clientMsgId} className={`msg own ${p.error ? 'failed' : 'sending'}`}>
            <div className="body">{p.body}</div>
            <div className="meta">{p.error ? `not sent: ${p.error}` : 'sending…'}</div>
          </div>
        ))}
      </div>
      <div className="typing-line">{thread?.visitorTyping ? 'Visitor is typing…' : ''}</div>
      <form className="composer" onSubmit={submit}>
        <textarea
          aria-label="Reply"
          placeholder={mineNow ? 'Write a reply… (Enter to send)' : 'Accept the conversation to reply'}
          disabled={!mineNow}
          value={text}
          maxLength={4000}
          onChange={(e) => {
            setText(e.target.value);
            if (e.target.value.trim()) throttle.input();
            else throttle.stop();
          }}
          onBlur={() => throttle.stop()}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && !e.shiftKey) submit(e);
          }}
        />
        <button className="primary" type="submit" disabled={!mineNow || !text.trim()}>
          Send
        </button>
      </form>
      <p className="muted small">Last seq {highestSeq(state, id)}</p>
    </section>
  );
}
