import { useState } from 'react';
import { errorText } from '../../../lib/api-client';
import { setSession } from '../../../lib/auth';
import { login } from '../api/login';

/** Sign-in: e-mail, password and tenant. */
export function LoginPage(props: { onDone: () => void }) {
  const params = new URLSearchParams(location.search);
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [tenant, setTenant] = useState(params.get('tenant') ?? localStorage.getItem('chorus.lastTenant') ?? '');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  async function submit(e: React.FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      const r = await login(email.trim(), password, tenant.trim());
      localStorage.setItem('chorus.lastTenant', tenant.trim());
      setSession({ token: r.token, tenantId: r.agent?.tenant_id || tenant.trim(), expiresAt: r.expires_at, agent: r.agent });
      props.onDone();
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="login">
      <form className="card login-card" onSubmit={submit}>
        <h1>Chorus</h1>
        <p className="muted">Sign in to the agent console</p>
        <label>
          E-mail
          <input name="email" type="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} />
        </label>
        <label>
          Password
          <input name="password" type="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
        </label>
        <label>
          Tenant
          <input name="tenant" required value={tenant} onChange={(e) => setTenant(e.target.value)} />
        </label>
        {error && <p className="error" role="alert">{error}</p>}
        <button className="primary" type="submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
