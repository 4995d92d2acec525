// Re-reads REST state when something it depends on happened (a task event,
// a reconnect), at most once per `gapMs`: driven by events, never a timer loop.
import { live } from '../live.js';
import { tasks } from '../store.js';

export class Refresher {
  private timer: number | undefined;
  private last = 0;
  private readonly onTask = () => this.request();
  private readonly onLive = () => {
    if (live.state === 'open') this.request();
  };

  constructor(
    private readonly load: () => Promise<void>,
    private readonly gapMs = 1000,
  ) {}

  attach(onTasks = true): void {
    if (onTasks) tasks.addEventListener('task', this.onTask);
    live.addEventListener('state', this.onLive);
    this.request();
  }

  detach(): void {
    tasks.removeEventListener('task', this.onTask);
    live.removeEventListener('state', this.onLive);
    window.clearTimeout(this.timer);
    this.timer = undefined;
  }

  request(): void {
    if (this.timer !== undefined) return;
    const wait = Math.max(0, this.last + this.gapMs - Date.now());
    this.timer = window.setTimeout(() => {
      this.timer = undefined;
      this.last = Date.now();
      this.load().catch((error) => console.warn('refresh:', (error as Error).message));
    }, wait);
  }
}
