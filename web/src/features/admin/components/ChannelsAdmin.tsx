import { useState } from 'react';
import { errorText } from '../../../lib/api-client';
import { createChannel, embedSnippet, type Channel } from '../api/create-channel';

/** Create a web_widget channel and show its embed snippet (admin). */
export function ChannelsAdmin() {
  const [name, setName] = useState('Website');
  const [origins, setOrigins] = useState(location.origin);
  const [created, setCreated] = useState<Channel | null>(null);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  async function submit(e: React.FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      const list = origins
        .split(/[\s,]+/)
        .map((o) => o.trim())
        .filter(Boolean);
      setCreated(await createChannel(name.trim(), list));
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="card">
      <h2>Website widget channels</h2>
      {error && <p className="error" role="alert">{error}</p>}
      <form className="row-form" onSubmit={submit}>
        <input required aria-label="Channel name" placeholder="Name" value={name} onChange={(e) => setName(e.target.value)} />
        <input
          aria-label="Allowed origins"
          placeholder="Allowed origins (https://shop.example, …)"
          value={origins}
          onChange={(e) => setOrigins(e.target.value)}
          className="grow"
        />
        <button className="primary" disabled={busy}>
          Create channel
        </button>
      </form>
      {created && (
        <div className="snippet">
          <p>
            Channel <strong>{created.name}</strong> created. Paste this into your site, before <code>&lt;/body&gt;</code>:
          </p>
          <pre data-testid="embed-snippet">{embedSnippet(location.origin, created.widget_key)}</pre>
          <button type="button" onClick={() => void navigator.clipboard?.writeText(embedSnippet(location.origin, created.widget_key))}>
            Copy
          </button>
        </div>
      )}
    </section>
  );
}
