import { api } from '../../../lib/api-client';
import type { Conversation } from '../../../lib/types';

export interface QueueItem {
  conversation: Conversation;
  position: number;
  waited_seconds: number;
}

/** GET /queue: queued conversations, oldest first. */
export function getQueue(): Promise<{ items: QueueItem[] }> {
  return api('GET', '/queue');
}
