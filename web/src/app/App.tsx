import { useEffect, useState, useSyncExternalStore } from 'react';
import { AgentsAdmin } from '../features/agents/components/AgentsAdmin';
import { PresenceSwitch } from '../features/agents/components/PresenceSwitch';
import { getAgents } from '../features/agents/api/get-agents';
import { ChannelsAdmin } from '../features/admin/components/ChannelsAdmin';
import { LoginPage } from '../features/auth/components/LoginPage';
import { ConversationView, type AgentOption } from '../features/conversations/components/ConversationView';
import { Inbox } from '../features/conversations/components/Inbox';
import { useConsole } from '../features/conversations/hooks/use-console';
import { getSession, hasRole, onSessionChange, setSession, type AuthSession } from '../lib/auth';
import { Link, navigate, usePath } from '../lib/router';

export function App() {
  const session = useSyncExternalStore(onSessionChange, sessionSnapshot);
  const path = usePath();

  useEffect(() => {
    if (!session && path !== '/login') navigate('/login', true);
    if (session && path === '/login') navigate('/', true);
  }, [session, path]);

  if (!session) return <LoginPage onDone={() => navigate('/', true)} />;
  return <Shell key={session.token} session={session} path={path} />;
}

let cachedRaw: string | null = null;
let cached: AuthSession | null = null;
function sessionSnapshot(): AuthSession | null {
  const raw = sessionStorage.getItem('chorus.session');
  if (raw !== cachedRaw) {
    cachedRaw = raw;
    cached = getSession();
  }
  return cached;
}

function Shell(props: { session: AuthSession; path: string }) {
  const { session, path } = props;
  const c = useConsole(session);
  const [agents, setAgents] = useState<AgentOption[]>([]);
  const isAdmin = hasRole(session, 'admin');

  useEffect(() => {
    if (!hasRole(session, 'admin', 'supervisor')) return;
    getAgents()
      .then((list) => setAgents(list.map((a) => ({ id: a.id, name: a.name || a.email, status: a.status }))))
      .catch(() => undefined);
  }, [session]);

  const convMatch = /^\/conversations\/([^/]+)$/.exec(path);
  const selected = convMatch ? decodeURIComponent(convMatch[1]) : undefined;
  const agentOptions = agents.map((a) => ({ ...a, status: c.state.presence[a.id] ?? a.status }));

  return (
    <div className="shell">
      <header className="top">
        <Link to="/" className="brand">
          Chorus
        </Link>
        <nav>
          <Link to="/">Inbox</Link>
          {isAdmin && <Link to="/admin">Admin</Link>}
        </nav>
        <span className={`conn ${c.connection}`} data-testid="connection">
          {c.connection === 'open' ? 'live' : c.connection}
        </span>
        <span className="spacer" />
        <PresenceSwitch initial={session.agent.status} />
        <span className="me">{session.agent.name || session.agent.email}</span>
        <button onClick={() => setSession(null)}>Log out</button>
      </header>
      {path === '/admin' ? (
        <main className="admin">
          <AgentsAdmin presence={c.state.presence} />
          <ChannelsAdmin />
        </main>
      ) : (
        <main className="workspace">
          <Inbox state={c.state} selected={selected} />
          {selected ? (
            <ConversationView key={selected} id={selected} console={c} agents={agentOptions} />
          ) : (
            <section className="conversation placeholder">
              <p className="muted">Pick a conversation from the queue or your list.</p>
            </section>
          )}
        </main>
      )}
    </div>
  );
}
