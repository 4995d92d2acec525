// One WebSocket to /api/v2/ws for the whole app. Each subscription remembers
// the id of the last event it handled and resubscribes with it (`since`) after
// every reconnect (an api swap closes with 1001), so no event is lost and none
// is polled for. When the server no longer holds that far back
// (`resync_required`), the subscriber reloads its state over REST.
import { session } from './api.js';

export interface BusEvent<P = unknown> {
  id: string;
  ts: number;
  topic: string;
  payload: P;
}

export interface Subscription {
  close(): void;
}

interface Entry {
  key: number;
  topic: string;
  lastId: string | null;
  onEvent: (event: BusEvent) => void;
  // Called once the server confirmed the subscription without a cursor (the
  // first time, or after a resync): load the state over REST now, so that
  // nothing committed in between is missed (events that follow are live).
  onFresh: () => void;
}

export type LiveState = 'connecting' | 'open' | 'closed';

export class Live extends EventTarget {
  private socket: WebSocket | null = null;
  private entries = new Map<number, Entry>();
  private pending = new Map<string, Entry>();  // request id -> entry awaiting `subscribed`
  private nextKey = 1;
  private nextRequest = 1;
  private retryMs = 250;
  private keepAlive: number | undefined;
  state: LiveState = 'closed';
  reconnects = 0;

  // With `since` (an event id or a time in ms) the history after it is
  // replayed first, and onFresh is called only if the server no longer has it.
  subscribe(topic: string, onEvent: (event: BusEvent) => void, onFresh: () => void, since?: string): Subscription {
    const entry: Entry = { key: this.nextKey++, topic, lastId: since ?? null, onEvent, onFresh };
    this.entries.set(entry.key, entry);
    if (this.socket?.readyState === WebSocket.OPEN) this.send(entry);
    else this.connect();
    return {
      close: () => {
        this.entries.delete(entry.key);
        if (this.socket?.readyState === WebSocket.OPEN && ![...this.entries.values()].some((e) => e.topic === topic))
          this.socket.send(JSON.stringify({ type: 'unsubscribe', id: `u${this.nextRequest++}`, topic }));
      },
    };
  }

  private setState(state: LiveState): void {
    this.state = state;
    this.dispatchEvent(new Event('state'));
  }

  private connect(): void {
    if (this.socket) return;
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const protocols = ['hive.v1'];
    const token = session.token();
    // Browsers cannot set headers on a WebSocket: the api reads the key from
    // this subprotocol (never echoed back, never logged).
    if (token) protocols.push(`hive.bearer.${token}`);
    const socket = new WebSocket(`${scheme}//${location.host}/api/v2/ws`, protocols);
    this.socket = socket;
    this.setState('connecting');
    socket.onopen = () => {
      this.retryMs = 250;
      this.setState('open');
      this.pending.clear();
      for (const entry of this.entries.values()) this.send(entry);
      // The server closes a connection silent for idle_timeout (120 s).
      this.keepAlive = window.setInterval(() => {
        if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: 'ping', id: 'keepalive' }));
      }, 45_000);
    };
    socket.onmessage = (message) => this.receive(String(message.data));
    socket.onclose = () => {
      window.clearInterval(this.keepAlive);
      this.socket = null;
      this.setState('closed');
      if (this.entries.size === 0) return;
      this.reconnects++;
      const delay = this.retryMs;
      this.retryMs = Math.min(this.retryMs * 2, 5_000);
      window.setTimeout(() => this.connect(), delay);
    };
  }

  private send(entry: Entry): void {
    const id = `s${this.nextRequest++}`;
    this.pending.set(id, entry);
    const message: Record<string, unknown> = { type: 'subscribe', id, topic: entry.topic };
    if (entry.lastId) message.payload = { since: entry.lastId };
    this.socket?.send(JSON.stringify(message));
  }

  private receive(text: string): void {
    let message: { type: string; id?: string; topic?: string; payload?: { code?: string } } & Partial<BusEvent>;
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    if (message.type === 'event') {
      const event = message as BusEvent;
      for (const entry of this.entries.values()) {
        if (!topicMatches(entry.topic, event.topic)) continue;
        // Replayed and live events may overlap around a reconnect: ids are ordered.
        if (entry.lastId && compareIds(event.id, entry.lastId) <= 0) continue;
        entry.lastId = event.id;
        entry.onEvent(event);
      }
    } else if (message.type === 'subscribed' && message.id) {
      const entry = this.pending.get(message.id);
      this.pending.delete(message.id);
      if (entry && this.entries.has(entry.key) && entry.lastId === null) entry.onFresh();
    } else if (message.type === 'error' && message.id) {
      const entry = this.pending.get(message.id);
      this.pending.delete(message.id);
      if (entry && message.payload?.code === 'resync_required') {
        entry.lastId = null;
        this.send(entry);
      }
    }
  }
}

// `*` stands for any run of characters, dots included (hive::bus::topicMatches).
export function topicMatches(pattern: string, topic: string): boolean {
  if (!pattern.includes('*')) return pattern === topic;
  const parts = pattern.split('*');
  if (!topic.startsWith(parts[0])) return false;
  let at = parts[0].length;
  for (let i = 1; i < parts.length - 1; i++) {
    const found = topic.indexOf(parts[i], at);
    if (found < 0) return false;
    at = found + parts[i].length;
  }
  const last = parts[parts.length - 1];
  return topic.length - at >= last.length && topic.endsWith(last);
}

// Event ids are `<ms>-<seq>`, compared numerically part by part.
export function compareIds(a: string, b: string): number {
  const [am, as = '0'] = a.split('-');
  const [bm, bs = '0'] = b.split('-');
  if (am.length !== bm.length) return am.length - bm.length;
  if (am !== bm) return am < bm ? -1 : 1;
  if (as.length !== bs.length) return as.length - bs.length;
  return as === bs ? 0 : as < bs ? -1 : 1;
}

export const live = new Live();
