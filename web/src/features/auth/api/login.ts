import { api } from '../../../lib/api-client';
import type { Agent } from '../../../lib/types';

export interface LoginResponse {
  token: string;
  expires_at: string;
  agent: Agent;
}

/** POST /auth/login */
export function login(email: string, password: string, tenantId: string): Promise<LoginResponse> {
  return api<LoginResponse>('POST', '/auth/login', { email, password, tenant_id: tenantId }, { auth: false });
}
