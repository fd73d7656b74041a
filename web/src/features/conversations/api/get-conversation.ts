import { api } from '../../../lib/api-client';
import type { Conversation } from '../../../lib/types';

/** GET /conversations/{id} */
export function getConversation(id: string): Promise<Conversation> {
  return api('GET', `/conversations/${encodeURIComponent(id)}`);
}
