// Wire types of the public API (PROTOCOL.md), shared by every feature.

export type ConversationStatus = 'queued' | 'active' | 'closed' | 'missed';
export type AgentStatus = 'online' | 'away' | 'offline';

export interface Conversation {
  id: string;
  tenant_id: string;
  channel_id?: string;
  contact_id: string;
  status: ConversationStatus;
  assignee_id: string | null;
  last_seq: number;
  created_at: string;
  assigned_at?: string | null;
  closed_at?: string | null;
  queued_at?: string | null;
}

export interface Message {
  id: string;
  conversation_id: string;
  seq: number;
  sender_type: 'visitor' | 'agent' | 'system';
  sender_id: string;
  body: string;
  client_msg_id?: string;
  created_at: string;
  delivered_at?: string | null;
  read_at?: string | null;
}

export interface Agent {
  id: string;
  tenant_id: string;
  name: string;
  email: string;
  roles: string[];
  status: AgentStatus;
  capacity: number;
  active_conversations: number;
}

export interface Actor {
  type: 'visitor' | 'agent' | 'system';
  id: string;
}

export type ServerFrame =
  | { type: 'hello'; agent_id?: string; conversation_id?: string; last_seq?: number }
  | { type: 'message'; message: Message }
  | { type: 'message.ack'; client_msg_id: string; message: Message }
  | { type: 'receipt'; conversation_id: string; kind: 'delivered' | 'read'; seq: number; actor: Actor }
  | { type: 'typing'; conversation_id: string; actor: Actor; active: boolean }
  | { type: 'conversation'; conversation: Conversation }
  | { type: 'presence'; agent: { id: string; status: AgentStatus } }
  | { type: 'queue'; conversation: Conversation; position: number }
  | { type: 'pong' }
  | { type: 'error'; code: string; message: string; client_msg_id?: string; conversation_id?: string };
