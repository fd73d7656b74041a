import { useEffect, useState } from 'react';
import { errorText } from '../../../lib/api-client';
import type { Agent } from '../../../lib/types';
import { createAgent } from '../api/create-agent';
import { getAgents } from '../api/get-agents';

/** Agents list and the create-agent form (admin). */
export function AgentsAdmin(props: { presence: Record<string, string> }) {
  const [agents, setAgents] = useState<Agent[]>([]);
  const [error, setError] = useState('');
  const [form, setForm] = useState({ name: '', email: '', password: '', role: 'agent' });
  const [busy, setBusy] = useState(false);
  const [notice, setNotice] = useState('');

  const load = () =>
    getAgents()
      .then(setAgents)
      .catch((e) => setError(errorText(e)));
  useEffect(() => {
    void load();
  }, []);

  async function submit(e: React.FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError('');
    setNotice('');
    try {
      const created = await createAgent({ name: form.name, email: form.email, password: form.password || undefined, roles: [form.role] });
      setNotice(created.password ? `Created ${created.email}. Generated password (shown once): ${created.password}` : `Created ${created.email}.`);
      setForm({ name: '', email: '', password: '', role: 'agent' });
      await load();
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="card">
      <h2>Agents</h2>
      {error && <p className="error" role="alert">{error}</p>}
      <table>
        <thead>
          <tr>
            <th>Name</th>
            <th>E-mail</th>
            <th>Roles</th>
            <th>Status</th>
            <th>Load</th>
            <th>Id</th>
          </tr>
        </thead>
        <tbody>
          {agents.map((a) => (
            <tr key={a.id}>
              <td>{a.name}</td>
              <td>{a.email}</td>
              <td>{(a.roles ?? []).join(', ')}</td>
              <td>
                <span className={`badge ${props.presence[a.id] ?? a.status}`}>{props.presence[a.id] ?? a.status}</span>
              </td>
              <td>
                {a.active_conversations}/{a.capacity}
              </td>
              <td className="mono small">{a.id}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h3>Add an agent</h3>
      <form className="row-form" onSubmit={submit}>
        <input required placeholder="Name" value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} />
        <input required type="email" placeholder="E-mail" value={form.email} onChange={(e) => setForm({ ...form, email: e.target.value })} />
        <input type="password" placeholder="Password (empty: generate)" autoComplete="new-password" value={form.password} onChange={(e) => setForm({ ...form, password: e.target.value })} />
        <select aria-label="Role" value={form.role} onChange={(e) => setForm({ ...form, role: e.target.value })}>
          <option value="agent">agent</option>
          <option value="supervisor">supervisor</option>
          <option value="admin">admin</option>
        </select>
        <button className="primary" disabled={busy}>
          Create
        </button>
      </form>
      {notice && <p className="notice" data-testid="agent-notice">{notice}</p>}
    </section>
  );
}
