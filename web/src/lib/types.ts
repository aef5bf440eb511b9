// The shapes Herald's HTTP API and STOMP frames carry.

export interface User {
  id: number;
  username: string;
  nickname: string;
  avatar: string;
  signature: string;
  created_at: number;
}

export interface SessionBody {
  access_token: string;
  refresh_token: string;
  token_type: string;
  expires_in: number;
  user: User;
}

export interface Group {
  id: number;
  name: string;
  avatar: string;
  announcement: string;
  owner: number;
  join_approval: boolean;
  muted_all: boolean;
  dissolved: boolean;
  created_at: number;
}

export type Role = 'owner' | 'admin' | 'member';

export interface GroupEntry {
  group: Group;
  role: Role;
}

export interface Member {
  user: User;
  role: Role;
  muted: boolean;
  joined_at: number;
  online: boolean;
}

export interface Friend {
  user: User;
  remark: string | null;
  since: number;
  online: boolean;
}

export type RequestStatus = 'pending' | 'accepted' | 'rejected';

export interface FriendRequest {
  id: number;
  from: number;
  to: number;
  greeting: string;
  status: RequestStatus;
  created_at: number;
  resolved_at: number | null;
}

export interface RequestEntry {
  request: FriendRequest;
  user: User | null;
}

export interface JoinRequest {
  id: number;
  group: number;
  user: number;
  message: string;
  status: RequestStatus;
  created_at: number;
  resolved_at: number | null;
}

export interface FileRecord {
  id: string;
  name: string;
  content_type: string;
  size: number;
  width: number | null;
  height: number | null;
  created_at: number;
}

/** A stored message as the history API shows it. */
export interface ApiMessage {
  message_id: string;
  seq: number;
  sender: number;
  kind: string;
  timestamp: number;
  client_msg_id: string | null;
  headers: Record<string, string>;
  body: string;
  read_count?: number;
}

export interface HistoryPage {
  conversation: string;
  last_seq: number;
  read_seq: number;
  peer_read_seq?: number;
  peer_delivered_seq?: number;
  messages: ApiMessage[];
}

export type ConversationType = 'private' | 'group' | 'system';

export interface ConversationEntry {
  conversation: string;
  type: ConversationType;
  last_seq: number;
  read_seq: number;
  unread: number;
  mentions: number;
  updated_at: number;
  last_message: ApiMessage | null;
  peer?: User | null;
  online?: boolean;
  group?: Group | null;
}

export interface SystemEvent {
  seq: number;
  kind: string;
  sender: number;
  timestamp: number;
  payload: Record<string, unknown> | null;
}

/** A file as a chat message references it. */
export interface FileRef {
  id: string;
  name: string;
  size?: number;
  content_type?: string;
  width?: number | null;
  height?: number | null;
}

/** The JSON body of a chat message. */
export interface MessageBody {
  type: 'text' | 'image' | 'file';
  text?: string;
  file?: FileRef;
  mentions?: number[];
}

/** Where a message of mine stands. */
export type Delivery = 'queued' | 'sending' | 'failed' | 'sent' | 'delivered' | 'read';

/** One message as the client shows it. */
export interface ChatMessage {
  /** `s<seq>` once stored, `p<client-msg-id>` while pending. */
  key: string;
  conversation: string;
  seq: number | null;
  messageId: string | null;
  sender: number;
  timestamp: number;
  /** `message`, `recalled` (content erased) or `recall` (the notice). */
  kind: string;
  clientMsgId: string | null;
  body: MessageBody | null;
  mentionsMe: boolean;
  readCount: number | null;
  /** For pending messages: queued, sending or failed (with why). */
  pendingState?: 'queued' | 'sending' | 'failed';
  error?: string;
}
