// The STOMP connection to Herald: connects with the access token and this
// browser's device id, reconnects with exponential backoff and jitter, and
// hands every frame to the chat store.

import { Client, type IFrame, type IMessage, type StompHeaders, type StompSubscription } from '@stomp/stompjs';

export type LinkState = 'connecting' | 'online' | 'offline';

export interface ConnectionHooks {
  /** A fresh token for CONNECT (refreshed when near expiry). */
  token: () => Promise<string | null>;
  deviceId: string;
  /** CONNECTED: subscribe and flush what waits. `resumed` is false the first time. */
  connected: (resumed: boolean) => Promise<void> | void;
  message: (message: IMessage) => void;
  receipt: (frame: IFrame) => void;
  error: (frame: IFrame) => void;
  state: (state: LinkState, retryAt: number | null) => void;
}

/** Backoff for attempt n (1, 2, ...): 0.5 s doubling to 15 s, each with ±50% jitter. */
export function backoffDelay(attempt: number): number {
  const base = Math.min(15000, 500 * 2 ** Math.max(0, attempt - 1));
  return Math.round(base * (0.5 + Math.random()));
}

export class Connection {
  private client: Client;
  private attempt = 0;
  private everConnected = false;
  private wake: (() => void) | null = null;
  private subs = new Map<string, StompSubscription>();

  constructor(private hooks: ConnectionHooks) {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    this.client = new Client({
      brokerURL: `${scheme}//${location.host}/ws`,
      // The delay is taken in beforeConnect (with jitter); stompjs only needs
      // to keep trying.
      reconnectDelay: 10,
      connectionTimeout: 8000,
      heartbeatIncoming: 10000,
      heartbeatOutgoing: 10000,
      debug: () => {},
    });
    this.client.beforeConnect = async () => {
      if (this.attempt > 0) {
        const delay = backoffDelay(this.attempt);
        this.hooks.state('offline', Date.now() + delay);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delay);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wake = null;
      }
      this.attempt += 1;
      this.hooks.state(this.everConnected ? 'offline' : 'connecting', null);
      let token: string | null = null;
      try {
        token = await this.hooks.token();
      } catch {
        token = null;
      }
      this.client.connectHeaders = {
        passcode: token ?? '',
        'device-id': this.hooks.deviceId,
      };
    };
    this.client.onConnect = async () => {
      const resumed = this.everConnected;
      this.everConnected = true;
      this.subs.clear();
      try {
        await this.hooks.connected(resumed);
        this.attempt = 0;
        this.hooks.state('online', null);
      } catch {
        // Could not set up (the API is unreachable): start over.
        this.client.forceDisconnect();
      }
    };
    this.client.onUnhandledMessage = (message) => this.hooks.message(message);
    this.client.onUnhandledReceipt = (frame) => this.hooks.receipt(frame);
    this.client.onStompError = (frame) => this.hooks.error(frame);
    this.client.onWebSocketClose = () => {
      this.subs.clear();
      if (this.client.active) this.hooks.state('offline', null);
    };
    window.addEventListener('online', this.retryNow);
  }

  start(): void {
    this.client.activate();
  }

  async stop(): Promise<void> {
    window.removeEventListener('online', this.retryNow);
    this.wake?.();
    await this.client.deactivate();
  }

  get connected(): boolean {
    return this.client.connected;
  }

  /** Skips the wait before the next attempt. */
  retryNow = (): void => {
    this.wake?.();
  };

  /** Drops the socket (as a network failure would); the client reconnects. */
  drop(): void {
    if (this.client.connected) this.client.forceDisconnect();
  }

  subscribe(destination: string, headers: StompHeaders = {}): void {
    if (!this.client.connected || this.subs.has(destination)) return;
    const sub = this.client.subscribe(destination, (message) => this.hooks.message(message), {
      ack: 'client-individual',
      ...headers,
    });
    this.subs.set(destination, sub);
  }

  unsubscribe(destination: string): void {
    const sub = this.subs.get(destination);
    this.subs.delete(destination);
    if (sub && this.client.connected) sub.unsubscribe();
  }

  isSubscribed(destination: string): boolean {
    return this.subs.has(destination);
  }

  /** Sends a frame now; false when not connected. */
  publish(destination: string, headers: StompHeaders, body = ''): boolean {
    if (!this.client.connected) return false;
    try {
      this.client.publish({ destination, headers, body });
      return true;
    } catch {
      return false;
    }
  }
}
