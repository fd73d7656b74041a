import { useState } from 'react';
import { errorText } from '../../../lib/api-client';
import type { AgentStatus } from '../../../lib/types';
import { setMyStatus } from '../api/set-status';

/** The agent's availability: online / away / offline. */
export function PresenceSwitch(props: { initial: AgentStatus }) {
  const [status, setStatus] = useState<AgentStatus>(props.initial || 'offline');
  const [error, setError] = useState('');
  return (
    <label className={`presence ${status}`} title={error || undefined}>
      <span className="dot" aria-hidden="true" />
      <select
        aria-label="My status"
        value={status}
        onChange={async (e) => {
          const next = e.target.value as AgentStatus;
          const prev = status;
          setStatus(next);
          setError('');
          try {
            const a = await setMyStatus(next);
            if (a?.status) setStatus(a.status);
          } catch (err) {
            setStatus(prev);
            setError(errorText(err));
          }
        }}
      >
        <option value="online">Online</option>
        <option value="away">Away</option>
        <option value="offline">Offline</option>
      </select>
      {error && <span className="error small">{error}</span>}
    </label>
  );
}
