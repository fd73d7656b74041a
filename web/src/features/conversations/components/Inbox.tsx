import { Link } from '../../../lib/router';
import type { Conversation } from '../../../lib/types';
import { messagesOf, mine, queueList, type ConsoleState } from '../store/console-store';

function preview(s: ConsoleState, c: Conversation): string {
  const msgs = messagesOf(s, c.id);
  const last = msgs[msgs.length - 1];
  return last ? last.body : c.last_seq ? `${c.last_seq} message(s)` : 'No messages yet';
}

function since(iso?: string | null): string {
  if (!iso) return '';
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.round(s / 60)}m`;
  return `${Math.round(s / 3600)}h`;
}

/** The inbox: the queue and my conversations, live. */
export function Inbox(props: { state: ConsoleState; selected?: string }) {
  const { state, selected } = props;
  const queue = queueList(state);
  const my = mine(state);
  return (
    <nav className="inbox" aria-label="Conversations">
      <h2>
        Queue <span className="count">{queue.length}</span>
      </h2>
      {queue.length === 0 && <p className="empty">Nobody is waiting.</p>}
      <ul>
        {queue.map(({ conversation: c, position }) => (
          <li key={c.id} className={c.id === selected ? 'sel' : ''}>
            <Link to={`/conversations/${c.id}`} className="conv-link">
              <span className="badge queued">#{position}</span>
              <span className="who">Visitor {c.contact_id.slice(0, 8)}</span>
              <span className="muted">{since(c.queued_at ?? c.created_at)}</span>
              <span className="preview">{preview(state, c)}</span>
            </Link>
          </li>
        ))}
      </ul>
      <h2>
        Mine <span className="count">{my.filter((c) => c.status === 'active').length}</span>
      </h2>
      {my.length === 0 && <p className="empty">No conversations assigned to you.</p>}
      <ul>
        {my.map((c) => (
          <li key={c.id} className={c.id === selected ? 'sel' : ''}>
            <Link to={`/conversations/${c.id}`} className="conv-link">
              <span className={`badge ${c.status}`}>{c.status}</span>
              <span className="who">Visitor {c.contact_id.slice(0, 8)}</span>
              {state.threads[c.id]?.visitorTyping && <span className="muted">typing…</span>}
              <span className="preview">{preview(state, c)}</span>
            </Link>
          </li>
        ))}
      </ul>
    </nav>
  );
}
