import { api } from '../../../lib/api-client';
import type { Agent, AgentStatus } from '../../../lib/types';

/** PUT /agents/me/status */
export function setMyStatus(status: AgentStatus): Promise<Agent> {
  return api('PUT', '/agents/me/status', { status });
}
