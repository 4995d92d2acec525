// Re-reads a view's REST state when something it depends on happened: an
// event on its topic, a task event, a reconnect. At most once per `gapMs`:
// driven by events, never a timer loop. A Lit controller, so it follows the
// view: attached while the view is on screen, detached (unsubscribed) after.
import type { ReactiveController, ReactiveControllerHost } from 'lit';
import { live, type Subscription } from '../live.js';
import { tasks } from '../store.js';

export interface RefreshOn {
  gapMs?: number;
  tasks?: boolean;  // every task event
  topic?: string;   // events on this bus topic pattern
}

export class Refresher implements ReactiveController {
  private timer: number | undefined;
  private last = 0;
  private subscription: Subscription | null = null;
  private readonly onTask = () => this.request();
  private readonly onLive = () => {
    if (live.state === 'open') this.request();
  };

  constructor(
    host: ReactiveControllerHost,
    private readonly load: () => Promise<void>,
    private readonly on: RefreshOn = {},
  ) {
    host.addController(this);
  }

  hostConnected(): void {
    if (this.on.tasks) tasks.addEventListener('task', this.onTask);
    if (this.on.topic) this.subscription = live.subscribe(this.on.topic, this.onTask, this.onTask);
    live.addEventListener('state', this.onLive);
    this.request();
  }

  hostDisconnected(): void {
    tasks.removeEventListener('task', this.onTask);
    this.subscription?.close();
    this.subscription = null;
    live.removeEventListener('state', this.onLive);
    window.clearTimeout(this.timer);
    this.timer = undefined;
  }

  request(): void {
    if (this.timer !== undefined) return;
    const wait = Math.max(0, this.last + (this.on.gapMs ?? 1000) - Date.now());
    this.timer = window.setTimeout(() => {
      this.timer = undefined;
      this.last = Date.now();
      this.load().catch((error) => console.warn('refresh:', (error as Error).message));
    }, wait);
  }
}
