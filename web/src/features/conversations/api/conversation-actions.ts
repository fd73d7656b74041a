import { api } from '../../../lib/api-client';
import type { Conversation } from '../../../lib/types';

const base = (id: string) => `/conversations/${encodeURIComponent(id)}`;

/** POST /conversations/{id}/accept — 409 when taken or closed. */
export function acceptConversation(id: string): Promise<Conversation> {
  return api('POST', `${base(id)}/accept`);
}

/** POST /conversations/{id}/transfer {agent_id} */
export function transferConversation(id: string, agentId: string): Promise<Conversation> {
  return api('POST', `${base(id)}/transfer`, { agent_id: agentId });
}

/** POST /conversations/{id}/close */
export function closeConversation(id: string): Promise<Conversation> {
  return api('POST', `${base(id)}/close`);
}

/** POST /conversations/{id}/read {seq} */
export function markRead(id: string, seq: number): Promise<void> {
  return api('POST', `${base(id)}/read`, { seq });
}
