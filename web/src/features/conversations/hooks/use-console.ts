// useConsole: the console's live state, fed by REST loads and the one agent
// socket. Resume after a reconnect: reload the queue and my conversations,
// fetch each open thread after its highest seq, re-send pending messages.

import { useCallback, useEffect, useReducer, useRef, useState } from 'react';
import { AgentSocket, agentSocketURL } from '../../../lib/agent-socket';
import { api } from '../../../lib/api-client';
import type { AuthSession } from '../../../lib/auth';
import { newClientMsgId } from '../../../../widget/src/protocol';
import { getConversations } from '../api/get-conversations';
import { getAllMessagesAfter } from '../api/get-messages';
import { getQueue } from '../api/get-queue';
import { markRead as markReadREST } from '../api/conversation-actions';
import { highestSeq, initialState, reducer, resendable, type Action, type ConsoleState } from '../store/console-store';

export type Connection = 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface ConsoleApi {
  state: ConsoleState;
  dispatch: (a: Action) => void;
  connection: Connection;
  send(conversationId: string, body: string): void;
  typing(conversationId: string, active: boolean): void;
  markRead(conversationId: string, seq: number): void;
  loadHistory(conversationId: string): Promise<void>;
  refresh(): Promise<void>;
}

export function useConsole(session: AuthSession): ConsoleApi {
  const [state, dispatch] = useReducer(reducer, session.agent.id, initialState);
  const [connection, setConnection] = useState<Connection>('connecting');
  const stateRef = useRef(state);
  stateRef.current = state;
  const socketRef = useRef<AgentSocket | null>(null);
  const readSent = useRef<Record<string, number>>({});

  const loadHistory = useCallback(async (id: string) => {
    const items = await getAllMessagesAfter(id, highestSeq(stateRef.current, id));
    if (items.length) dispatch({ type: 'history/loaded', conversationId: id, items });
  }, []);

  const refresh = useCallback(async () => {
    const [q, mineList] = await Promise.all([getQueue(), getConversations({ assigneeId: session.agent.id, limit: 200 })]);
    dispatch({ type: 'queue/loaded', items: q.items ?? [] });
    dispatch({ type: 'conversations/loaded', items: mineList.items ?? [] });
  }, [session.agent.id]);

  useEffect(() => {
    const sock = new AgentSocket({
      url: () => agentSocketURL(location, session.token, session.tenantId),
      onFrame: (frame) => dispatch({ type: 'frame', frame }),
      onState: setConnection,
      // A refused upgrade shows no status to the browser: ask REST, which
      // logs out on 401 (expired or revoked token).
      onRefused: (n) => {
        if (n >= 2) void api('GET', '/me').catch(() => undefined);
      },
      onReady: (reconnected) => {
        void refresh().catch(() => undefined);
        if (reconnected) {
          for (const id of Object.keys(stateRef.current.threads)) void loadHistory(id).catch(() => undefined);
        }
        for (const p of resendable(stateRef.current)) {
          sock.send({ type: 'message.send', conversation_id: p.conversationId, client_msg_id: p.clientMsgId, body: p.body });
        }
      },
    });
    socketRef.current = sock;
    sock.start();
    return () => {
      sock.stop();
      socketRef.current = null;
    };
  }, [session.token, session.tenantId, refresh, loadHistory]);

  const send = useCallback((conversationId: string, text: string) => {
    const body = text.trim();
    if (!body) return;
    const clientMsgId = newClientMsgId();
    dispatch({ type: 'pending/add', pending: { clientMsgId, conversationId, body } });
    dispatch({ type: 'error/clear', conversationId });
    socketRef.current?.send({ type: 'message.send', conversation_id: conversationId, client_msg_id: clientMsgId, body });
  }, []);

  const typing = useCallback((conversationId: string, active: boolean) => {
    socketRef.current?.send({ type: 'typing', conversation_id: conversationId, active });
  }, []);

  const markRead = useCallback((conversationId: string, seq: number) => {
    if ((readSent.current[conversationId] ?? 0) >= seq) return;
    readSent.current[conversationId] = seq;
    if (!socketRef.current?.send({ type: 'read', conversation_id: conversationId, seq })) {
      void markReadREST(conversationId, seq).catch(() => undefined);
    }
  }, []);

  return { state, dispatch, connection, send, typing, markRead, loadHistory, refresh };
}
