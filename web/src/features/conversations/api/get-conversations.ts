import { api } from '../../../lib/api-client';
import type { Conversation } from '../../../lib/types';

/** GET /conversations?assignee_id=&status=&limit=&cursor= */
export function getConversations(q: { assigneeId?: string; status?: string; limit?: number; cursor?: string }): Promise<{ items: Conversation[]; next_cursor?: string }> {
  const p = new URLSearchParams();
  if (q.assigneeId) p.set('assignee_id', q.assigneeId);
  if (q.status) p.set('status', q.status);
  if (q.limit) p.set('limit', String(q.limit));
  if (q.cursor) p.set('cursor', q.cursor);
  return api('GET', `/conversations?${p.toString()}`);
}
