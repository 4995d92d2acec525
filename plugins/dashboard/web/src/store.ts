// Every task the dashboard knows, kept current from the `tasks` topic. The
// list is loaded page by page (newest pages first is not offered by the API,
// so the order is fixed once here); live events insert or update one task.
import { get } from './api.js';
import { live, type BusEvent } from './live.js';

export interface Task {
  id: string;
  type: string;
  title?: string;
  status: string;
  capabilities: string[];
  priority: number;
  attempts: number;
  max_attempts?: number;
  agent?: string;
  error?: string;
  created_at_ms: number;
  updated_at_ms: number;
  started_at_ms?: number;
  finished_at_ms?: number;
  queued_at_ms?: number;
  payload?: unknown;
  payload_bytes?: number;
  result?: unknown;
  progress?: unknown;
}

interface TaskEvent {
  event: string;
  task: Task;
}

export const FINAL = new Set(['succeeded', 'failed', 'cancelled', 'dead']);
const WINDOW_SECONDS = 60;

export class TaskStore extends EventTarget {
  private byId = new Map<string, Task>();
  // Oldest first by created_at_ms; views show it reversed.
  private ordered: Task[] = [];
  private sorted = true;
  private scheduled = false;
  loading = false;
  version = 0;  // changes whenever a task is added or updated
  loadedAll = false;
  firstPageAt = 0;
  // Tasks finished in each of the last WINDOW_SECONDS seconds, and their mean run time.
  readonly finishedPerSecond: number[] = new Array(WINDOW_SECONDS).fill(0);
  readonly latencyPerSecond: number[] = new Array(WINDOW_SECONDS).fill(0);
  private latencySums: number[] = new Array(WINDOW_SECONDS).fill(0);
  private windowEnd = Math.floor(Date.now() / 1000);
  private started = false;
  private generation = 0;  // a reload after resync abandons the previous one

  start(): void {
    if (this.started) return;
    this.started = true;
    live.subscribe('tasks', (event) => this.onEvent(event as BusEvent<TaskEvent>), () => void this.reload());
  }

  get size(): number {
    return this.ordered.length;
  }

  tasks(): Task[] {
    if (!this.sorted) {
      this.ordered.sort((a, b) => a.created_at_ms - b.created_at_ms || (a.id < b.id ? -1 : 1));
      this.sorted = true;
    }
    return this.ordered;
  }

  task(id: string): Task | undefined {
    return this.byId.get(id);
  }

  // Keeps what arrives, the newer of two copies winning (a page read while
  // events arrive may hold an older copy of a task).
  put(task: Task): void {
    this.version++;
    const known = this.byId.get(task.id);
    if (known) {
      if (known.updated_at_ms > task.updated_at_ms) return;
      Object.assign(known, task);
      return;
    }
    this.byId.set(task.id, task);
    const last = this.ordered[this.ordered.length - 1];
    if (last && last.created_at_ms > task.created_at_ms) this.sorted = false;
    this.ordered.push(task);
  }

  private async reload(): Promise<void> {
    const generation = ++this.generation;
    this.loading = true;
    this.loadedAll = false;
    this.changed();
    let cursor = '';
    try {
      for (;;) {
        const page = await get<{ items: Task[]; next_cursor?: string }>(
          `/api/v2/tasks?limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
        );
        if (generation !== this.generation) return;
        for (const task of page.items) this.put(task);
        if (!this.firstPageAt) this.firstPageAt = performance.now();
        this.changed();
        if (!page.next_cursor) break;
        cursor = page.next_cursor;
      }
      this.loadedAll = true;
    } catch (error) {
      console.warn('tasks: loading stopped:', (error as Error).message);
    } finally {
      if (generation === this.generation) this.loading = false;
      this.changed();
    }
  }

  private onEvent(event: BusEvent<TaskEvent>): void {
    const payload = event.payload;
    if (!payload || typeof payload !== 'object' || !payload.task) return;
    const task = payload.task;
    const known = this.byId.get(task.id);
    // Events carry no payload (payload_bytes says its size): keep the one read.
    if (known && known.payload !== undefined && task.payload === undefined) task.payload = known.payload;
    this.put(task);
    if (FINAL.has(task.status) && (payload.event === `task.${task.status}` || payload.event === 'task.dead'))
      this.countFinished(task, event.ts);
    this.dispatchEvent(new CustomEvent('task', { detail: event }));
    this.changed();
  }

  private countFinished(task: Task, ts: number): void {
    this.advanceWindow();
    const second = Math.floor(ts / 1000);
    const slot = WINDOW_SECONDS - 1 - (this.windowEnd - second);
    if (slot < 0 || slot >= WINDOW_SECONDS) return;
    this.finishedPerSecond[slot]++;
    if (task.started_at_ms && task.finished_at_ms) {
      this.latencySums[slot] += task.finished_at_ms - task.started_at_ms;
      this.latencyPerSecond[slot] = this.latencySums[slot] / this.finishedPerSecond[slot];
    }
  }

  advanceWindow(): void {
    const now = Math.floor(Date.now() / 1000);
    const shift = Math.min(now - this.windowEnd, WINDOW_SECONDS);
    if (shift <= 0) return;
    for (const series of [this.finishedPerSecond, this.latencyPerSecond, this.latencySums]) {
      series.splice(0, shift);
      for (let i = 0; i < shift; i++) series.push(0);
    }
    this.windowEnd = now;
  }

  // Views re-render at most once a frame however many events arrive.
  private changed(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    requestAnimationFrame(() => {
      this.scheduled = false;
      this.dispatchEvent(new Event('change'));
    });
  }
}

export const tasks = new TaskStore();
