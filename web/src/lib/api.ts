// Herald's HTTP JSON API: bearer tokens, one refresh on a 401, JSON errors
// turned into ApiError, and uploads with progress.

import type { FileRecord, SessionBody } from './types';

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

interface Tokens {
  access: string;
  refresh: string;
}

let tokens: Tokens | null = null;
let refreshing: Promise<boolean> | null = null;
let onExpired: () => void = () => {};
let onRenewed: (body: SessionBody) => void = () => {};

/** Sets the tokens requests carry (null: signed out). */
export function setTokens(next: Tokens | null): void {
  tokens = next;
}

export function accessToken(): string | null {
  return tokens?.access ?? null;
}

/** What to do when tokens are renewed, and when they can no longer be. */
export function onSession(renewed: (body: SessionBody) => void, expired: () => void): void {
  onRenewed = renewed;
  onExpired = expired;
}

/** Seconds until the access token expires (negative when it has). */
export function accessTokenTtl(): number {
  const token = tokens?.access;
  if (!token) return -1;
  try {
    const payload = JSON.parse(atob(token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
    return typeof payload.exp === 'number' ? payload.exp - Date.now() / 1000 : 3600;
  } catch {
    return -1;
  }
}

/** Exchanges the refresh token for a new pair; false when that failed. */
export function refreshTokens(): Promise<boolean> {
  if (!tokens) return Promise.resolve(false);
  if (!refreshing) {
    const refresh = tokens.refresh;
    refreshing = (async () => {
      try {
        const response = await fetch('/api/token/refresh', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ refresh_token: refresh }),
        });
        if (response.status === 401 || response.status === 403) {
          onExpired();
          return false;
        }
        if (!response.ok) return false;
        const body = (await response.json()) as SessionBody;
        tokens = { access: body.access_token, refresh: body.refresh_token };
        onRenewed(body);
        return true;
      } catch {
        return false;
      } finally {
        refreshing = null;
      }
    })();
  }
  return refreshing;
}

async function errorOf(response: Response): Promise<ApiError> {
  let code = 'http_' + response.status;
  let message = response.statusText || 'request failed';
  try {
    const body = await response.json();
    if (body && typeof body.error === 'string') code = body.error;
    if (body && typeof body.message === 'string') message = body.message;
  } catch {
    // not JSON
  }
  return new ApiError(response.status, code, message);
}

/** Sends one request; a 401 refreshes the tokens once and retries. */
async function send(method: string, path: string, body?: unknown, retry = true): Promise<Response> {
  const headers: Record<string, string> = {};
  if (tokens) headers.authorization = `Bearer ${tokens.access}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let response: Response;
  try {
    response = await fetch('/api' + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, 'offline', 'Herald cannot be reached right now');
  }
  if (response.status === 401 && retry && tokens && !path.startsWith('/login')) {
    if (await refreshTokens()) return send(method, path, body, false);
  }
  if (!response.ok) throw await errorOf(response);
  return response;
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const response = await send(method, path, body);
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

export const get = <T>(path: string) => api<T>('GET', path);
export const post = <T>(path: string, body?: unknown) => api<T>('POST', path, body ?? {});
export const put = <T>(path: string, body?: unknown) => api<T>('PUT', path, body ?? {});
export const patch = <T>(path: string, body: unknown) => api<T>('PATCH', path, body);
export const del = <T>(path: string) => api<T>('DELETE', path);

/** The bytes of an uploaded file (the API wants the bearer token, so no plain <img src>). */
export async function fetchFile(id: string): Promise<Blob> {
  const response = await send('GET', `/files/${encodeURIComponent(id)}`);
  return response.blob();
}

export interface Upload {
  promise: Promise<FileRecord>;
  abort: () => void;
}

/** Uploads a file as the raw request body, reporting progress from 0 to 1. */
export function uploadFile(file: File, onProgress: (fraction: number) => void): Upload {
  const xhr = new XMLHttpRequest();
  const promise = new Promise<FileRecord>((resolve, reject) => {
    const start = (retry: boolean) => {
      xhr.open('POST', `/api/files?name=${encodeURIComponent(file.name)}`);
      if (tokens) xhr.setRequestHeader('authorization', `Bearer ${tokens.access}`);
      xhr.setRequestHeader('content-type', file.type || 'application/octet-stream');
      xhr.upload.onprogress = (event) => {
        if (event.lengthComputable) onProgress(event.loaded / event.total);
      };
      xhr.onload = async () => {
        if (xhr.status === 401 && retry && (await refreshTokens())) {
          start(false);
          return;
        }
        let body: { error?: string; message?: string } & Partial<FileRecord> = {};
        try {
          body = JSON.parse(xhr.responseText);
        } catch {
          // not JSON
        }
        if (xhr.status >= 200 && xhr.status < 300) {
          onProgress(1);
          resolve(body as FileRecord);
        } else {
          reject(new ApiError(xhr.status, body.error ?? 'upload_failed', body.message ?? 'the upload failed'));
        }
      };
      xhr.onerror = () => reject(new ApiError(0, 'offline', 'the upload broke off: Herald cannot be reached'));
      xhr.onabort = () => reject(new ApiError(0, 'aborted', 'the upload was cancelled'));
      xhr.send(file);
    };
    start(true);
  });
  return { promise, abort: () => xhr.abort() };
}

/** A message for people from any error. */
export function describeError(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof Error) return error.message;
  return String(error);
}
