// One fetch wrapper for the REST API: bearer token and tenant header on every
// call, JSON in and out, the error body turned into ApiError, logout on 401.

import { getSession, setSession } from './auth';

export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export async function api<T>(method: string, path: string, body?: unknown, opts: { auth?: boolean } = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const s = getSession();
  if (opts.auth !== false && s) {
    headers.Authorization = `Bearer ${s.token}`;
    headers['X-Tenant-ID'] = s.tenantId;
  }
  const res = await fetch(`/api/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (res.status === 401 && opts.auth !== false) setSession(null);
  if (!res.ok) {
    let code = 'internal';
    let message = `request failed (${res.status})`;
    try {
      const e = (await res.json()) as { error?: { code?: string; message?: string } };
      code = e.error?.code || code;
      message = e.error?.message || message;
    } catch {
      /* not JSON */
    }
    throw new ApiError(res.status, code, message);
  }
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

/** A human sentence for any error, conflicts included. */
export function errorText(err: unknown): string {
  if (err instanceof ApiError) {
    if (err.status === 409) return `Conflict: ${err.message}`;
    return err.message;
  }
  return err instanceof Error ? err.message : String(err);
}
