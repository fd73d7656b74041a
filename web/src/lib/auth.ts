// The signed-in agent's session, kept in sessionStorage (one tab, gone on close).

import type { Agent } from './types';

export interface AuthSession {
  token: string;
  tenantId: string;
  expiresAt?: string;
  agent: Agent;
}

const KEY = 'chorus.session';
const listeners = new Set<() => void>();

export function getSession(): AuthSession | null {
  try {
    const raw = sessionStorage.getItem(KEY);
    return raw ? (JSON.parse(raw) as AuthSession) : null;
  } catch {
    return null;
  }
}

export function setSession(s: AuthSession | null): void {
  if (s) sessionStorage.setItem(KEY, JSON.stringify(s));
  else sessionStorage.removeItem(KEY);
  for (const fn of listeners) fn();
}

export function onSessionChange(fn: () => void): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export function hasRole(s: AuthSession | null, ...roles: string[]): boolean {
  return !!s && s.agent.roles?.some((r) => roles.includes(r));
}
