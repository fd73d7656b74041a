import { api } from '../../../lib/api-client';
import type { Agent } from '../../../lib/types';

export interface NewAgent {
  name: string;
  email: string;
  /** Empty: the server generates one and returns it once. */
  password?: string;
  roles: string[];
  capacity?: number;
}

/** POST /agents (admin). */
export function createAgent(a: NewAgent): Promise<Agent & { password?: string }> {
  return api('POST', '/agents', a);
}
