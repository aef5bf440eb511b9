// Conversations and their messages, kept in step with Herald over STOMP:
// every stored message is known by its conversation and seq, so replays
// after a reconnect and repeats never show twice; a seq gap is filled from
// history; messages written while offline wait in a queue (kept in
// localStorage) and go out with their client-msg-id once connected again.

import { defineStore } from 'pinia';
import { computed, reactive, ref, watch } from 'vue';
import type { IFrame, IMessage } from '@stomp/stompjs';
import * as api from '../lib/api';
import { Connection, type LinkState } from '../lib/connection';
import type {
  ChatMessage,
  ConversationEntry,
  ConversationType,
  Delivery,
  FileRecord,
  HistoryPage,
  MessageBody,
  SystemEvent,
} from '../lib/types';
import {
  destinationOf,
  deviceId,
  fromApi,
  groupOf,
  parseBody,
  peerOf,
  preview,
  privateConversation,
  uuid,
} from '../lib/util';
import { useContacts } from './contacts';
import { useSession } from './session';
import { useUi } from './ui';

/** Messages fetched per history page. */
const PAGE = 40;
/** Notices Herald never stores (they carry no place in a conversation). */
const LIVE_KINDS = new Set(['typing', 'presence', 'read', 'delivered']);
/** How long "typing" shows after the last typing notice. */
const TYPING_MS = 5000;
/** How long after sending a message its sender may recall it (Herald's default window). */
export const RECALL_WINDOW_MS = 120_000;

export interface Conversation {
  id: string;
  type: ConversationType;
  peerId: number | null;
  groupId: number | null;
  lastSeq: number;
  readSeq: number;
  mentions: number;
  updatedAt: number;
  lastMessage: ChatMessage | null;
  /** Private chats: how far the peer has read / received. */
  peerReadSeq: number;
  peerDeliveredSeq: number;
  /** Loaded messages by seq (only once the conversation was opened). */
  messages: Record<number, ChatMessage>;
  loaded: boolean;
  oldest: number | null;
  hasMore: boolean;
  loadingOlder: boolean;
  /** The highest seq the STOMP stream brought (or the list said): where a reconnect resumes. */
  position: number;
  /** The read position last announced to Herald. */
  readSent: number;
}

export interface Upload {
  id: string;
  conversation: string;
  name: string;
  progress: number;
  error: string | null;
  abort: () => void;
}

export interface Notice {
  seq: number;
  kind: string;
  text: string;
  timestamp: number;
}

interface SavedPending {
  clientMsgId: string;
  conversation: string;
  body: MessageBody;
  timestamp: number;
  failed?: string;
}

export const useChat = defineStore('chat', () => {
  const session = useSession();
  const contacts = useContacts();
  const ui = useUi();

  const conversations = reactive<Record<string, Conversation>>({});
  const activeId = ref<string | null>(null);
  const pending = ref<ChatMessage[]>([]);
  const uploads = ref<Upload[]>([]);
  const typing = reactive<Record<string, Record<number, number>>>({});
  const notices = ref<Notice[]>([]);
  const link = ref<LinkState>('connecting');
  const retryAt = ref<number | null>(null);
  const visible = ref(document.visibilityState === 'visible');
  let connection: Connection | null = null;
  let typingSentAt: Record<string, number> = {};
  let listReload: ReturnType<typeof setTimeout> | null = null;

  const me = () => session.me?.id ?? 0;

  // ------------------------------------------------------------ views

  const list = computed(() =>
    Object.values(conversations)
      .filter((c) => c.type !== 'system')
      .sort((a, b) => b.updatedAt - a.updatedAt),
  );

  const active = computed(() => (activeId.value ? conversations[activeId.value] ?? null : null));

  const totalUnread = computed(() => list.value.reduce((sum, c) => sum + unreadOf(c), 0));

  function unreadOf(c: Conversation): number {
    return Math.max(0, c.lastSeq - c.readSeq);
  }

  /** Stored messages of a conversation in seq order, then its pending ones. */
  function messagesOf(id: string): ChatMessage[] {
    const c = conversations[id];
    const stored = c ? Object.values(c.messages).sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0)) : [];
    return [...stored.filter((m) => m.kind !== 'recall'), ...pending.value.filter((m) => m.conversation === id)];
  }

  function deliveryOf(m: ChatMessage): Delivery {
    if (m.pendingState === 'failed') return 'failed';
    if (m.pendingState) return link.value === 'online' ? m.pendingState : 'queued';
    const c = conversations[m.conversation];
    if (!c || m.seq === null) return 'sent';
    if (c.type === 'private') {
      if (m.seq <= c.peerReadSeq) return 'read';
      if (m.seq <= Math.max(c.peerDeliveredSeq, c.peerReadSeq)) return 'delivered';
    }
    return 'sent';
  }

  function titleOf(c: Conversation): string {
    if (c.type === 'group') return contacts.groupById(c.groupId ?? 0)?.name ?? `Group ${c.groupId}`;
    if (c.type === 'private' && c.peerId !== null) return contacts.nameOf(c.peerId);
    return 'Notifications';
  }

  function typingIn(id: string): number[] {
    const now = Date.now();
    return Object.entries(typing[id] ?? {})
      .filter(([, until]) => until > now)
      .map(([user]) => Number(user));
  }

  // ------------------------------------------------------------ conversations

  function blank(id: string): Conversation {
    const group = groupOf(id);
    const peer = peerOf(id, me());
    return {
      id,
      type: group !== null ? 'group' : peer !== null ? 'private' : 'system',
      peerId: peer,
      groupId: group,
      lastSeq: 0,
      readSeq: 0,
      mentions: 0,
      updatedAt: 0,
      lastMessage: null,
      peerReadSeq: 0,
      peerDeliveredSeq: 0,
      messages: {},
      loaded: false,
      oldest: null,
      hasMore: true,
      loadingOlder: false,
      position: 0,
      readSent: 0,
    };
  }

  function ensure(id: string): Conversation {
    if (!conversations[id]) {
      conversations[id] = blank(id);
      scheduleListReload();
    }
    return conversations[id];
  }

  function scheduleListReload(): void {
    if (listReload) return;
    listReload = setTimeout(() => {
      listReload = null;
      loadConversations().catch(() => {});
    }, 300);
  }

  /** The conversation list from Herald, merged into what is known. */
  async function loadConversations(): Promise<void> {
    const entries = await api.get<ConversationEntry[]>('/conversations');
    for (const entry of entries) {
      const known = !!conversations[entry.conversation];
      const c = conversations[entry.conversation] ?? (conversations[entry.conversation] = blank(entry.conversation));
      if (entry.peer) contacts.remember(entry.peer);
      if (entry.type === 'private' && entry.peer && typeof entry.online === 'boolean') {
        contacts.online[entry.peer.id] = entry.online;
      }
      c.updatedAt = Math.max(c.updatedAt, entry.updated_at);
      c.readSeq = Math.max(c.readSeq, entry.read_seq);
      if (entry.last_seq >= c.lastSeq) {
        c.lastSeq = entry.last_seq;
        c.mentions = entry.mentions;
        if (entry.last_message) c.lastMessage = fromApi(c.id, entry.last_message, me());
      }
      if (!known || c.position === 0) {
        c.position = Math.max(c.position, entry.last_seq);
      } else if (entry.last_seq > c.position && c.loaded) {
        fillGap(c, c.position, entry.last_seq + 1);
      }
    }
  }

  // ------------------------------------------------------------ history

  function merge(c: Conversation, m: ChatMessage): void {
    if (m.seq === null) return;
    const existing = c.messages[m.seq];
    if (existing && existing.kind === 'recalled' && m.kind === 'message') return;
    if (existing && m.readCount === null) m.readCount = existing.readCount;
    c.messages[m.seq] = m;
  }

  /** recall notices: their key -> the seq they withdraw. */
  const recallSeqs = new Map<string, number>();

  function absorbPage(c: Conversation, page: HistoryPage): ChatMessage[] {
    const ms = page.messages.map((m) => {
      const cm = fromApi(c.id, m, me());
      if (m.kind === 'recall') recallSeqs.set(`${c.id}:${cm.key}`, Number(m.headers['recall-seq'] ?? 0));
      return cm;
    });
    // Recalled originals come with kind "recalled"; notices are merged after them.
    for (const m of ms) if (m.kind !== 'recall') merge(c, m);
    for (const m of ms) if (m.kind === 'recall') mergeRecall(c, m);
    c.lastSeq = Math.max(c.lastSeq, page.last_seq);
    c.readSeq = Math.max(c.readSeq, page.read_seq);
    if (typeof page.peer_read_seq === 'number') c.peerReadSeq = Math.max(c.peerReadSeq, page.peer_read_seq);
    if (typeof page.peer_delivered_seq === 'number')
      c.peerDeliveredSeq = Math.max(c.peerDeliveredSeq, page.peer_delivered_seq);
    for (const m of ms) dropPending(m.clientMsgId, m.sender);
    return ms;
  }

  function mergeRecall(c: Conversation, notice: ChatMessage): void {
    if (notice.seq === null) return;
    c.messages[notice.seq] = notice;
    const seq = recallSeqs.get(`${c.id}:${notice.key}`) ?? 0;
    withdraw(c, seq);
  }

  function withdraw(c: Conversation, seq: number): void {
    const recalled = c.messages[seq];
    if (recalled) {
      recalled.kind = 'recalled';
      recalled.body = null;
    }
    if (c.lastMessage && c.lastMessage.seq === seq) {
      c.lastMessage = { ...c.lastMessage, kind: 'recalled', body: null };
    }
  }

  async function open(id: string): Promise<void> {
    const c = ensure(id);
    activeId.value = id;
    ui.showingChat = true;
    if (c.type === 'group' && c.groupId !== null) contacts.loadMembers(c.groupId).catch(() => {});
    if (!c.loaded) {
      try {
        const page = await api.get<HistoryPage>(`/conversations/${id}/messages?limit=${PAGE}`);
        const ms = absorbPage(c, page);
        const seqs = ms.map((m) => m.seq ?? 0);
        c.oldest = seqs.length ? Math.min(...seqs) : null;
        c.hasMore = c.oldest !== null && c.oldest > 1;
        c.loaded = true;
        const senders = new Set(ms.map((m) => m.sender));
        for (const s of senders) contacts.ensureUser(s).catch(() => {});
      } catch (error) {
        ui.toast(`Could not load the conversation: ${api.describeError(error)}`, 'error');
      }
    }
    markRead(c);
  }

  function close(): void {
    activeId.value = null;
    ui.showingChat = false;
  }

  async function loadOlder(id: string): Promise<number> {
    const c = conversations[id];
    if (!c || !c.hasMore || c.loadingOlder || c.oldest === null) return 0;
    c.loadingOlder = true;
    try {
      const page = await api.get<HistoryPage>(`/conversations/${id}/messages?before_seq=${c.oldest}&limit=${PAGE}`);
      const ms = absorbPage(c, page);
      if (ms.length) c.oldest = Math.min(c.oldest, ...ms.map((m) => m.seq ?? c.oldest ?? 0));
      c.hasMore = ms.length > 0 && (c.oldest ?? 0) > 1;
      return ms.length;
    } catch (error) {
      ui.toast(`Could not load older messages: ${api.describeError(error)}`, 'error');
      return 0;
    } finally {
      c.loadingOlder = false;
    }
  }

  /** Fetches the messages between `from` (exclusive) and `to` (exclusive) from history. */
  async function fillGap(c: Conversation, from: number, to: number): Promise<void> {
    const missing = to - from - 1;
    if (missing <= 0 || !c.loaded) return;
    try {
      const path =
        missing > 200
          ? `/conversations/${c.id}/messages?before_seq=${to}&limit=200`
          : `/conversations/${c.id}/messages?after_seq=${from}&limit=${missing}`;
      const page = await api.get<HistoryPage>(path);
      const ms = absorbPage(c, page);
      if (missing > 200 && ms.length) c.oldest = Math.min(...ms.map((m) => m.seq ?? 0));
      if (missing > 200) c.hasMore = true;
    } catch {
      // Offline again: the next reconnect resumes from the position.
    }
  }

  /** Refreshes read counts of the newest messages of a group. */
  async function refreshReadCounts(id: string): Promise<void> {
    const c = conversations[id];
    if (!c || c.type !== 'group' || !c.loaded) return;
    const page = await api.get<HistoryPage>(`/conversations/${id}/messages?limit=30`);
    for (const m of page.messages) {
      const known = c.messages[m.seq];
      if (known && typeof m.read_count === 'number') known.readCount = m.read_count;
    }
  }

  // ------------------------------------------------------------ the STOMP stream

  function onFrame(message: IMessage): void {
    try {
      handle(message);
    } finally {
      if (message.headers.ack) message.ack();
    }
  }

  function handle(message: IMessage): void {
    const h = message.headers;
    const kind = h.kind ?? 'message';
    const id = h.conversation;
    const sender = Number(h.sender ?? 0);
    if (!id) return;
    if (LIVE_KINDS.has(kind) || h.seq === undefined) {
      notice(kind, id, sender, h, message.body);
      return;
    }
    const seq = Number(h.seq);
    const c = ensure(id);
    if (c.type === 'system') {
      systemEvent(c, seq, kind, sender, Number(h.timestamp ?? Date.now()), message.body);
      return;
    }
    const body = kind === 'message' ? parseBody(message.body, h['content-type']) : null;
    const m: ChatMessage = {
      key: 's' + seq,
      conversation: id,
      seq,
      messageId: h['message-id'] ?? null,
      sender,
      timestamp: Number(h.timestamp ?? Date.now()),
      kind,
      clientMsgId: h['client-msg-id'] ?? null,
      body,
      mentionsMe: h.mentioned === 'true' || !!body?.mentions?.includes(me()),
      readCount: null,
    };
    dropPending(m.clientMsgId, sender);
    if (typing[id]) delete typing[id][sender];
    const fresh = seq > c.position;
    if (fresh && seq > c.position + 1 && c.position > 0) fillGap(c, c.position, seq);
    if (fresh) c.position = seq;
    if (c.loaded) {
      if (kind === 'recall') {
        recallSeqs.set(`${id}:${m.key}`, Number(h['recall-seq'] ?? 0));
        mergeRecall(c, m);
      } else {
        merge(c, m);
      }
    } else if (kind === 'recall') {
      withdraw(c, Number(h['recall-seq'] ?? 0));
    }
    if (seq > c.lastSeq) {
      c.lastSeq = seq;
      c.updatedAt = Math.max(c.updatedAt, m.timestamp);
      if (kind !== 'recall') c.lastMessage = m;
      // Herald moves a sender's read position past their own message.
      if (sender === me()) c.readSeq = c.readSent = Math.max(c.readSeq, seq);
      else if (m.mentionsMe && kind === 'message') c.mentions += 1;
      if (sender !== me() && c.groupId === null) contacts.ensureUser(sender).catch(() => {});
      if (c.type === 'group') contacts.ensureUser(sender).catch(() => {});
    }
    if (activeId.value === id) markRead(c);
  }

  function notice(kind: string, id: string, sender: number, h: Record<string, string>, body: string): void {
    const seq = Number(h.seq ?? 0);
    switch (kind) {
      case 'typing': {
        if (sender === me()) return;
        (typing[id] ??= {})[sender] = Date.now() + TYPING_MS;
        setTimeout(() => {
          if (typing[id] && (typing[id][sender] ?? 0) <= Date.now()) delete typing[id][sender];
        }, TYPING_MS + 50);
        return;
      }
      case 'presence': {
        try {
          const value = JSON.parse(body);
          if (typeof value.user === 'number') contacts.setOnline(value.user, !!value.online);
        } catch {
          // ignore
        }
        return;
      }
      case 'read': {
        const c = conversations[id];
        if (!c || !h.seq) return;
        const read = Number(h.seq);
        if (sender === me()) {
          c.readSeq = Math.max(c.readSeq, read);
          c.readSent = Math.max(c.readSent, read);
          if (c.readSeq >= c.lastSeq) c.mentions = 0;
        } else {
          c.peerReadSeq = Math.max(c.peerReadSeq, read);
          c.peerDeliveredSeq = Math.max(c.peerDeliveredSeq, read);
        }
        return;
      }
      case 'delivered': {
        const c = conversations[id];
        if (c && seq && sender !== me()) c.peerDeliveredSeq = Math.max(c.peerDeliveredSeq, seq);
        return;
      }
    }
  }

  // ------------------------------------------------------------ system events

  function describeEvent(kind: string, sender: number, payload: Record<string, any> | null): string {
    const who = contacts.nameOf(sender);
    const groupName = (id: unknown) =>
      (payload?.group && typeof payload.group === 'object' ? payload.group.name : null) ??
      contacts.groupById(Number(id))?.name ??
      `group ${id}`;
    const subject = (id: unknown) => (Number(id) === me() ? 'you' : contacts.nameOf(Number(id)));
    switch (kind) {
      case 'friend-request':
        return `${payload?.from?.nickname ?? who} sent you a friend request`;
      case 'friend-accepted':
        return `${payload?.by?.nickname ?? who} accepted your friend request`;
      case 'friend-rejected':
        return `${payload?.by?.nickname ?? who} declined your friend request`;
      case 'friend-deleted':
        return `${who} removed you as a friend`;
      case 'group-invite':
        return `${who} added you to ${groupName(payload?.group?.id)}`;
      case 'member-joined':
        return `${subject(payload?.user)} joined ${groupName(payload?.group)}`;
      case 'member-left':
        return `${subject(payload?.user)} left ${groupName(payload?.group)}`;
      case 'member-kicked':
        return `${who} removed ${subject(payload?.user)} from ${groupName(payload?.group)}`;
      case 'member-muted':
        return `${who} ${payload?.muted ? 'muted' : 'unmuted'} ${subject(payload?.user)} in ${groupName(payload?.group)}`;
      case 'role-changed':
        return `${subject(payload?.user)} ${payload?.user === me() ? 'are' : 'is'} now ${payload?.role} of ${groupName(payload?.group)}`;
      case 'announcement':
        return `New announcement in ${groupName(payload?.group?.id)}: ${payload?.group?.announcement ?? ''}`;
      case 'group-updated':
        return `${who} updated ${groupName(payload?.group?.id)}`;
      case 'group-dissolved':
        return `${who} dissolved ${groupName(payload?.group)}`;
      case 'owner-transferred':
        return `${subject(payload?.to)} now own${payload?.to === me() ? '' : 's'} ${groupName(payload?.group)}`;
      case 'join-request':
        return `${who} asked to join ${groupName(payload?.request?.group)}`;
      case 'join-accepted':
        return `You may now chat in ${groupName(payload?.request?.group)}`;
      case 'join-rejected':
        return `Your request to join ${groupName(payload?.request?.group)} was declined`;
      default:
        return kind;
    }
  }

  function systemEvent(c: Conversation, seq: number, kind: string, sender: number, timestamp: number, raw: string): void {
    if (seq <= c.position) return;
    c.position = seq;
    c.lastSeq = Math.max(c.lastSeq, seq);
    let payload: Record<string, any> | null = null;
    try {
      payload = JSON.parse(raw);
    } catch {
      payload = null;
    }
    contacts.ensureUser(sender).catch(() => {});
    const text = describeEvent(kind, sender, payload);
    notices.value.unshift({ seq, kind, text, timestamp });
    if (notices.value.length > 50) notices.value.pop();
    react(kind, payload, sender === me() ? '' : text).catch(() => {});
  }

  /** Follows a system event: reloads what it changed; `text` (empty for my own actions) becomes a toast. */
  async function react(kind: string, payload: Record<string, any> | null, text: string): Promise<void> {
    const toast = (t: string) => {
      if (t) ui.toast(t);
    };
    const groupId = Number(payload?.group?.id ?? payload?.group ?? payload?.request?.group ?? 0);
    switch (kind) {
      case 'friend-request':
        toast(text);
        await contacts.loadRequests();
        return;
      case 'friend-accepted':
        toast(text);
        await Promise.all([contacts.loadFriends(), contacts.loadRequests()]);
        return;
      case 'friend-rejected':
      case 'friend-deleted':
        await Promise.all([contacts.loadFriends(), contacts.loadRequests()]);
        return;
      case 'group-invite':
      case 'join-accepted':
        toast(text);
        await joinedGroup(groupId);
        return;
      case 'member-kicked':
      case 'member-left':
        if (Number(payload?.user) === me()) {
          if (kind === 'member-kicked') toast(text);
          leftGroup(groupId);
          return;
        }
        if (contacts.members[groupId]) await contacts.loadMembers(groupId);
        return;
      case 'group-dissolved':
        toast(text);
        leftGroup(groupId);
        return;
      case 'announcement':
        toast(text);
        await contacts.loadGroups();
        return;
      case 'group-updated':
      case 'owner-transferred':
        await contacts.loadGroups();
        if (contacts.members[groupId]) await contacts.loadMembers(groupId);
        return;
      case 'member-joined':
      case 'member-muted':
      case 'role-changed':
        if (contacts.members[groupId]) await contacts.loadMembers(groupId);
        if (kind === 'role-changed') await contacts.loadGroups();
        return;
      case 'join-request':
        toast(text);
        await contacts.loadJoinRequests(groupId);
        return;
    }
  }

  async function joinedGroup(groupId: number): Promise<void> {
    await contacts.loadGroups();
    await loadConversations();
    subscribeGroup(groupId);
  }

  function leftGroup(groupId: number): void {
    const id = `g${groupId}`;
    connection?.unsubscribe(`/group/${groupId}`);
    if (activeId.value === id) close();
    delete conversations[id];
    pending.value = pending.value.filter((m) => m.conversation !== id);
    savePending();
    contacts.loadGroups().catch(() => {});
  }

  async function loadNotices(): Promise<void> {
    const c = conversations[`s${me()}`];
    const after = Math.max(0, (c?.lastSeq ?? 0) - 30);
    const page = await api.get<{ events: SystemEvent[] }>(`/events?after_seq=${after}&limit=30`);
    notices.value = page.events
      .map((e) => ({ seq: e.seq, kind: e.kind, text: describeEvent(e.kind, e.sender, e.payload), timestamp: e.timestamp }))
      .reverse();
  }

  // ------------------------------------------------------------ sending

  const pendingKey = () => `herald.pending.${me()}`;

  function savePending(): void {
    const saved: SavedPending[] = pending.value.map((m) => ({
      clientMsgId: m.clientMsgId ?? '',
      conversation: m.conversation,
      body: m.body ?? { type: 'text', text: '' },
      timestamp: m.timestamp,
      failed: m.pendingState === 'failed' ? m.error ?? 'failed' : undefined,
    }));
    if (saved.length) localStorage.setItem(pendingKey(), JSON.stringify(saved));
    else localStorage.removeItem(pendingKey());
  }

  function restorePending(): void {
    try {
      const saved = JSON.parse(localStorage.getItem(pendingKey()) ?? '[]') as SavedPending[];
      pending.value = saved.map((s) => pendingMessage(s.conversation, s.body, s.clientMsgId, s.timestamp, s.failed));
    } catch {
      pending.value = [];
    }
  }

  function pendingMessage(
    conversation: string,
    body: MessageBody,
    clientMsgId: string,
    timestamp: number,
    failed?: string,
  ): ChatMessage {
    return {
      key: 'p' + clientMsgId,
      conversation,
      seq: null,
      messageId: null,
      sender: me(),
      timestamp,
      kind: 'message',
      clientMsgId,
      body,
      mentionsMe: false,
      readCount: null,
      pendingState: failed ? 'failed' : 'queued',
      error: failed,
    };
  }

  function dropPending(clientMsgId: string | null, sender: number): void {
    if (!clientMsgId || sender !== me()) return;
    const before = pending.value.length;
    pending.value = pending.value.filter((m) => m.clientMsgId !== clientMsgId);
    if (pending.value.length !== before) savePending();
  }

  /** Queues a message and sends it at once when connected. */
  function send(conversation: string, body: MessageBody): void {
    const m = pendingMessage(conversation, body, uuid(), Date.now());
    pending.value.push(m);
    savePending();
    const c = ensure(conversation);
    c.updatedAt = Date.now();
    transmit(m);
  }

  function transmit(m: ChatMessage): void {
    const destination = destinationOf(m.conversation, me());
    if (!destination || !connection || !m.clientMsgId) return;
    const sent = connection.publish(
      destination,
      {
        'content-type': 'application/json',
        'client-msg-id': m.clientMsgId,
        receipt: m.clientMsgId,
      },
      JSON.stringify(m.body),
    );
    m.pendingState = sent ? 'sending' : 'queued';
  }

  function flushPending(): void {
    for (const m of pending.value) if (m.pendingState !== 'failed') transmit(m);
  }

  function retry(m: ChatMessage): void {
    const found = pending.value.find((p) => p.key === m.key);
    if (!found) return;
    found.pendingState = 'queued';
    found.error = undefined;
    savePending();
    transmit(found);
  }

  function discard(m: ChatMessage): void {
    pending.value = pending.value.filter((p) => p.key !== m.key);
    savePending();
  }

  function onReceipt(frame: IFrame): void {
    const id = frame.headers['receipt-id'];
    const m = pending.value.find((p) => p.clientMsgId === id);
    if (!m || !frame.headers.seq || !frame.headers.conversation) return;
    const seq = Number(frame.headers.seq);
    const c = ensure(frame.headers.conversation);
    const stored: ChatMessage = {
      ...m,
      key: 's' + seq,
      seq,
      messageId: frame.headers['message-id'] ?? null,
      timestamp: Number(frame.headers.timestamp ?? m.timestamp),
      pendingState: undefined,
      error: undefined,
    };
    dropPending(m.clientMsgId, me());
    if (c.loaded) merge(c, stored);
    if (seq > c.lastSeq) {
      c.lastSeq = seq;
      c.lastMessage = stored;
      c.updatedAt = Math.max(c.updatedAt, stored.timestamp);
    }
    c.readSeq = c.readSent = Math.max(c.readSeq, seq);
  }

  function onError(frame: IFrame): void {
    const text = frame.headers.message ?? 'Herald refused a frame';
    const receipt = frame.headers['receipt-id'];
    const m = receipt ? pending.value.find((p) => p.clientMsgId === receipt) : undefined;
    if (m) {
      m.pendingState = 'failed';
      m.error = text;
      savePending();
    }
    // A shutting-down Herald says so before closing; the offline banner tells it better.
    if (m || !/shutting down/i.test(text)) ui.toast(text, 'error');
  }

  function sendTyping(conversation: string): void {
    const now = Date.now();
    if (now - (typingSentAt[conversation] ?? 0) < 2500) return;
    const destination = destinationOf(conversation, me());
    if (!destination || !connection) return;
    if (connection.publish(destination, { kind: 'typing' })) typingSentAt[conversation] = now;
  }

  function markRead(c: Conversation): void {
    if (activeId.value !== c.id || !visible.value || ui.section !== 'chats') return;
    const seq = c.lastSeq;
    if (seq <= 0 || seq <= c.readSent) {
      c.readSeq = Math.max(c.readSeq, seq);
      c.mentions = 0;
      return;
    }
    const destination = destinationOf(c.id, me());
    if (!destination || !connection) return;
    if (connection.publish(destination, { kind: 'read', seq: String(seq) })) {
      c.readSent = seq;
      c.readSeq = Math.max(c.readSeq, seq);
      c.mentions = 0;
    }
  }

  function recall(m: ChatMessage): void {
    const destination = destinationOf(m.conversation, me());
    if (!destination || !connection || !m.messageId) return;
    if (!connection.publish(destination, { kind: 'recall', 'recall-id': m.messageId, receipt: 'recall-' + uuid() })) {
      ui.toast('You are offline; recall once connected again', 'error');
    }
  }

  async function deleteForMe(m: ChatMessage): Promise<void> {
    if (m.seq === null) return;
    await api.del(`/conversations/${m.conversation}/messages/${m.seq}`);
    const c = conversations[m.conversation];
    if (c) delete c.messages[m.seq];
  }

  function sendFile(conversation: string, file: File): void {
    const id = uuid();
    const handle = api.uploadFile(file, (fraction) => {
      const u = uploads.value.find((x) => x.id === id);
      if (u) u.progress = fraction;
    });
    uploads.value.push({ id, conversation, name: file.name, progress: 0, error: null, abort: handle.abort });
    handle.promise
      .then((record: FileRecord) => {
        uploads.value = uploads.value.filter((u) => u.id !== id);
        const image = record.content_type.startsWith('image/') && !!record.width;
        send(conversation, {
          type: image ? 'image' : 'file',
          file: {
            id: record.id,
            name: record.name,
            size: record.size,
            content_type: record.content_type,
            width: record.width,
            height: record.height,
          },
        });
      })
      .catch((error) => {
        const u = uploads.value.find((x) => x.id === id);
        if (u) u.error = api.describeError(error);
      });
  }

  function dismissUpload(id: string): void {
    const u = uploads.value.find((x) => x.id === id);
    if (u && !u.error) u.abort();
    uploads.value = uploads.value.filter((x) => x.id !== id);
  }

  // ------------------------------------------------------------ connection

  function sinceHeader(): string {
    return Object.values(conversations)
      .filter((c) => c.type !== 'group' && c.position > 0)
      .sort((a, b) => b.updatedAt - a.updatedAt)
      .slice(0, 300)
      .map((c) => `${c.id}=${c.position}`)
      .join(',');
  }

  function subscribeGroup(groupId: number, resumed = true): void {
    if (!connection) return;
    const c = conversations[`g${groupId}`];
    const headers: Record<string, string> = {};
    if (resumed && c && c.position > 0) headers['since-seq'] = String(c.position);
    connection.subscribe(`/group/${groupId}`, headers);
  }

  async function connected(resumed: boolean): Promise<void> {
    const groups = await contacts.loadGroups();
    if (resumed) await loadConversations().catch(() => {});
    const since = resumed ? sinceHeader() : '';
    connection!.subscribe(`/user/${me()}`, since ? { since } : {});
    for (const g of groups) subscribeGroup(g.group.id, resumed);
    flushPending();
    if (active.value) markRead(active.value);
  }

  async function start(): Promise<void> {
    if (connection) return;
    restorePending();
    link.value = 'connecting';
    try {
      await Promise.all([contacts.loadAll(), loadConversations()]);
      await loadNotices().catch(() => {});
    } catch (error) {
      if (error instanceof api.ApiError && error.status === 401) return;
      ui.toast(`Some data could not be loaded: ${api.describeError(error)}`, 'error');
    }
    if (!session.me) return;
    connection = new Connection({
      token: () => session.connectToken(),
      deviceId: deviceId(),
      connected,
      message: onFrame,
      receipt: onReceipt,
      error: onError,
      state: (state, at) => {
        link.value = state;
        retryAt.value = at;
        if (state !== 'online') for (const m of pending.value) if (m.pendingState === 'sending') m.pendingState = 'queued';
      },
    });
    connection.start();
  }

  async function stop(): Promise<void> {
    const c = connection;
    connection = null;
    if (c) await c.stop();
    for (const key of Object.keys(conversations)) delete conversations[key];
    activeId.value = null;
    pending.value = [];
    uploads.value = [];
    notices.value = [];
    typingSentAt = {};
  }

  function retryNow(): void {
    connection?.retryNow();
  }

  /** Opens (creating if need be) the private chat with a user. */
  async function openPrivate(user: number): Promise<void> {
    await open(privateConversation(me(), user));
  }

  watch(
    () => ui.section,
    () => {
      if (active.value) markRead(active.value);
    },
  );

  document.addEventListener('visibilitychange', () => {
    visible.value = document.visibilityState === 'visible';
    if (active.value) markRead(active.value);
  });

  // For tests and for debugging: drop the socket as a network failure would.
  (window as unknown as { heraldDrop?: () => void }).heraldDrop = () => connection?.drop();

  return {
    conversations, activeId, active, pending, uploads, typing, notices, link, retryAt, list, totalUnread,
    unreadOf, messagesOf, deliveryOf, titleOf, typingIn, preview,
    open, close, loadOlder, refreshReadCounts, send, sendFile, dismissUpload, retry, discard, sendTyping,
    recall, deleteForMe, start, stop, retryNow, openPrivate, loadConversations, joinedGroup,
  };
});
