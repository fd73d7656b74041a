import { api } from '../../../lib/api-client';
import type { Message } from '../../../lib/types';

/** GET /conversations/{id}/messages?after_seq=&limit= */
export function getMessages(id: string, afterSeq: number, limit = 200): Promise<{ items: Message[] }> {
  return api('GET', `/conversations/${encodeURIComponent(id)}/messages?after_seq=${afterSeq}&limit=${limit}`);
}

/** Every message after afterSeq, page by page. */
export async function getAllMessagesAfter(id: string, afterSeq: number): Promise<Message[]> {
  const out: Message[] = [];
  let after = afterSeq;
  for (let i = 0; i < 50; i++) {
    const { items } = await getMessages(id, after, 200);
    out.push(...items);
    if (items.length < 200) break;
    after = items[items.length - 1].seq;
  }
  return out;
}
