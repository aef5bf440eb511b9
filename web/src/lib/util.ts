// Small helpers: ids, names, times, sizes, message bodies.

import type { ApiMessage, ChatMessage, MessageBody, User } from './types';

/** A random UUID (v4), also where crypto.randomUUID is missing (plain http). */
export function uuid(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** This browser's device id, kept in localStorage so Herald resumes it. */
export function deviceId(): string {
  const key = 'herald.device-id';
  let id = localStorage.getItem(key);
  if (!id) {
    id = 'web-' + uuid();
    localStorage.setItem(key, id);
  }
  return id;
}

export function displayName(user: Pick<User, 'nickname' | 'username'> | null | undefined, remark?: string | null): string {
  if (remark) return remark;
  if (!user) return 'Someone';
  return user.nickname || user.username;
}

export function initials(name: string): string {
  const words = name.trim().split(/\s+/).filter(Boolean);
  if (words.length === 0) return '?';
  const letters = words.length === 1 ? [...words[0]].slice(0, 2) : [[...words[0]][0], [...words[1]][0]];
  return letters.join('').toUpperCase();
}

/** A stable hue for an id, for avatars. */
export function hue(seed: number | string): number {
  const text = String(seed);
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619) >>> 0;
  // Spread neighbouring ids (u2, u3 ...) around the wheel by the golden angle.
  return Math.round(((h % 1000) * 137.508) % 360);
}

const sameDay = (a: Date, b: Date) =>
  a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();

/** 14:05 today, "Mon" this week, else a short date. */
export function shortTime(ms: number): string {
  if (!ms) return '';
  const date = new Date(ms);
  const now = new Date();
  if (sameDay(date, now)) return date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  if (now.getTime() - ms < 6 * 86400_000) return date.toLocaleDateString([], { weekday: 'short' });
  return date.toLocaleDateString([], { day: 'numeric', month: 'short', year: '2-digit' });
}

export function clockTime(ms: number): string {
  return new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

export function fullTime(ms: number): string {
  return new Date(ms).toLocaleString();
}

export function dayLabel(ms: number): string {
  const date = new Date(ms);
  const now = new Date();
  if (sameDay(date, now)) return 'Today';
  const yesterday = new Date(now.getTime() - 86400_000);
  if (sameDay(date, yesterday)) return 'Yesterday';
  return date.toLocaleDateString([], { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' });
}

export function fileSize(bytes: number | undefined): string {
  if (bytes === undefined || bytes === null) return '';
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** A chat body from its JSON; text from any other client becomes a text message. */
export function parseBody(raw: string, contentType?: string): MessageBody | null {
  if (!raw) return null;
  if (!contentType || contentType.startsWith('application/json')) {
    try {
      const value = JSON.parse(raw);
      if (value && typeof value === 'object' && !Array.isArray(value)) {
        const type = value.type === 'image' || value.type === 'file' ? value.type : 'text';
        const body: MessageBody = { type };
        if (typeof value.text === 'string') body.text = value.text;
        if (value.file && typeof value.file === 'object' && typeof value.file.id === 'string') {
          body.file = {
            id: value.file.id,
            name: typeof value.file.name === 'string' ? value.file.name : 'file',
            size: typeof value.file.size === 'number' ? value.file.size : undefined,
            content_type: typeof value.file.content_type === 'string' ? value.file.content_type : undefined,
            width: typeof value.file.width === 'number' ? value.file.width : null,
            height: typeof value.file.height === 'number' ? value.file.height : null,
          };
        } else if (type !== 'text') {
          body.type = 'text';
        }
        if (Array.isArray(value.mentions)) body.mentions = value.mentions.map(Number).filter(Number.isFinite);
        return body;
      }
    } catch {
      // not JSON: plain text from another client
    }
  }
  return { type: 'text', text: raw };
}

/** A one-line preview of a message for the conversation list. */
export function preview(message: Pick<ChatMessage, 'kind' | 'body'> | null): string {
  if (!message) return '';
  if (message.kind === 'recalled' || message.kind === 'recall') return 'A message was recalled';
  const body = message.body;
  if (!body) return '';
  if (body.type === 'image') return '[Image]' + (body.text ? ' ' + body.text : '');
  if (body.type === 'file') return '[File] ' + (body.file?.name ?? '');
  return (body.text ?? '').replace(/\s+/g, ' ').trim();
}

export function fromApi(conversation: string, m: ApiMessage, me: number): ChatMessage {
  const body = m.kind === 'message' ? parseBody(m.body, m.headers['content-type']) : null;
  return {
    key: 's' + m.seq,
    conversation,
    seq: m.seq,
    messageId: m.message_id,
    sender: m.sender,
    timestamp: m.timestamp,
    kind: m.kind,
    clientMsgId: m.client_msg_id,
    body,
    mentionsMe: !!body?.mentions?.includes(me),
    readCount: typeof m.read_count === 'number' ? m.read_count : null,
  };
}

/** `u1-2` -> the other user's id from `me`'s side. */
export function peerOf(conversation: string, me: number): number | null {
  const match = /^u(\d+)-(\d+)$/.exec(conversation);
  if (!match) return null;
  const a = Number(match[1]);
  const b = Number(match[2]);
  return a === me ? b : a;
}

export function privateConversation(a: number, b: number): string {
  return a < b ? `u${a}-${b}` : `u${b}-${a}`;
}

export function groupOf(conversation: string): number | null {
  const match = /^g(\d+)$/.exec(conversation);
  return match ? Number(match[1]) : null;
}

/** The STOMP destination that writes to a conversation. */
export function destinationOf(conversation: string, me: number): string | null {
  const group = groupOf(conversation);
  if (group !== null) return `/group/${group}`;
  const peer = peerOf(conversation, me);
  return peer !== null ? `/user/${peer}` : null;
}
