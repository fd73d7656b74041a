import { api } from '../../../lib/api-client';
import type { Agent } from '../../../lib/types';

/** GET /agents (supervisor+). The server may answer a bare array or {items}. */
export async function getAgents(): Promise<Agent[]> {
  const r = await api<Agent[] | { items: Agent[] }>('GET', '/agents');
  return Array.isArray(r) ? r : (r?.items ?? []);
}
