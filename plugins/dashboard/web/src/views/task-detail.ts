// One task: its fields, payload, progress, result, attempts, and the timeline
// of its events (replayed from the bus history since its creation, then live).
import { LitElement, css, html, nothing } from 'lit';
import { access } from '../access.js';
import { ApiError, get, post } from '../api.js';
import { live, type BusEvent, type Subscription } from '../live.js';
import { FINAL, tasks, type Task } from '../store.js';
import { ago, pretty, shared, tone } from '../styles.js';

interface Step {
  id: string;
  ts: number;
  event: string;
  status: string;
  agent?: string;
  error?: string;
}

export class TaskDetail extends LitElement {
  static override properties = {
    taskId: {},
    task: { state: true },
    timeline: { state: true },
    outcome: { state: true },
    missing: { state: true },
  };
  declare taskId: string;
  declare task: Task | null;
  declare timeline: Step[];
  declare outcome: { ok: boolean; text: string } | null;
  declare missing: string;

  static override styles = [
    shared,
    css`
      dl {
        display: grid;
        grid-template-columns: max-content 1fr;
        gap: 0.25rem 1rem;
        margin: 0;
      }
      dt {
        color: var(--muted);
      }
      dd {
        margin: 0;
        overflow-wrap: anywhere;
      }
      ol.timeline {
        list-style: none;
        padding: 0;
        margin: 0;
      }
      ol.timeline li {
        padding: 0.3rem 0;
        border-bottom: 1px solid var(--border);
      }
    `,
  ];

  private subscription: Subscription | null = null;
  private subscribedTo = '';

  constructor() {
    super();
    this.taskId = '';
    this.task = null;
    this.timeline = [];
    this.outcome = null;
    this.missing = '';
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.subscription?.close();
    this.subscription = null;
    this.subscribedTo = '';
  }

  override willUpdate(changed: Map<string, unknown>): void {
    if (changed.has('taskId') && this.taskId !== this.subscribedTo) void this.open();
  }

  private async open(): Promise<void> {
    this.subscription?.close();
    this.subscribedTo = this.taskId;
    this.task = tasks.task(this.taskId) ?? null;
    this.timeline = [];
    this.outcome = null;
    this.missing = '';
    const id = this.taskId;
    try {
      const task = await get<Task>(`/api/v2/tasks/${encodeURIComponent(id)}`);
      if (id !== this.taskId) return;
      this.task = task;
      this.subscription = live.subscribe(
        `tasks.${id}`,
        (event) => this.onEvent(event as BusEvent<{ event: string; task: Task }>),
        () => void this.reload(),
        String(Math.max(0, task.created_at_ms - 1)),
      );
    } catch (error) {
      this.missing = (error as ApiError).message;
    }
  }

  private async reload(): Promise<void> {
    const task = await get<Task>(`/api/v2/tasks/${encodeURIComponent(this.taskId)}`);
    this.task = task;
  }

  private onEvent(event: BusEvent<{ event: string; task: Task }>): void {
    const { task } = event.payload;
    this.timeline = [
      ...this.timeline,
      { id: event.id, ts: event.ts, event: event.payload.event, status: task.status, agent: task.agent, error: task.error },
    ];
    if (!this.task || task.updated_at_ms >= this.task.updated_at_ms)
      this.task = { ...task, payload: this.task?.payload };
  }

  private async cancel(): Promise<void> {
    try {
      await post(`/api/v2/tasks/${encodeURIComponent(this.taskId)}/cancel`);
      this.outcome = { ok: true, text: 'Cancel requested.' };
    } catch (error) {
      this.outcome = { ok: false, text: `Cancel refused: ${(error as ApiError).message}` };
    }
  }

  // The API has no retry of a finished task: submit a copy of it.
  private async retry(): Promise<void> {
    const task = this.task;
    if (!task) return;
    try {
      const copy = await post<Task>('/api/v2/tasks', {
        type: task.type,
        title: task.title,
        capabilities: task.capabilities,
        priority: task.priority,
        payload: task.payload ?? {},
      });
      this.outcome = { ok: true, text: `Submitted again as ${copy.id}.` };
      location.hash = `#/tasks/${encodeURIComponent(copy.id)}`;
    } catch (error) {
      this.outcome = { ok: false, text: `Retry refused: ${(error as ApiError).message}` };
    }
  }

  override render() {
    if (this.missing) return html`<p class="outcome error" role="alert">Task ${this.taskId}: ${this.missing}</p>`;
    const task = this.task;
    if (!task) return html`<p class="muted">Loading ${this.taskId}…</p>`;
    const canWrite = access.can('tasks:write');
    return html`
      <p><a href="#/tasks">← All tasks</a></p>
      <div class="row">
        <h2>Task <span class="id">${task.id}</span></h2>
        <span class="badge ${tone(task.status)}" data-status=${task.status} role="status">${task.status}</span>
        ${canWrite && !FINAL.has(task.status) ? html`<button @click=${this.cancel}>Cancel</button>` : nothing}
        ${canWrite && FINAL.has(task.status) && task.status !== 'succeeded'
          ? html`<button @click=${this.retry}>Retry (submit a copy)</button>`
          : nothing}
      </div>
      ${this.outcome ? html`<p class="outcome ${this.outcome.ok ? '' : 'error'}" role="status">${this.outcome.text}</p>` : nothing}
      <div class="cards">
        <section class="card" aria-label="Fields">
          <dl>
            <dt>Type</dt><dd>${task.type}</dd>
            <dt>Capabilities</dt><dd>${task.capabilities.join(', ') || '(any)'}</dd>
            <dt>Priority</dt><dd>${task.priority}</dd>
            <dt>Attempts</dt><dd>${task.attempts}${task.max_attempts ? ` of ${task.max_attempts}` : ''}</dd>
            <dt>Agent</dt><dd>${task.agent || '—'}</dd>
            <dt>Created</dt><dd>${new Date(task.created_at_ms).toLocaleString()} (${ago(task.created_at_ms)})</dd>
            ${task.finished_at_ms
              ? html`<dt>Finished</dt><dd>${new Date(task.finished_at_ms).toLocaleString()}</dd>`
              : nothing}
            ${task.error ? html`<dt>Error</dt><dd>${task.error}</dd>` : nothing}
          </dl>
        </section>
        <section class="card" aria-labelledby="payload-h">
          <h3 id="payload-h">Payload</h3>
          <pre tabindex="0">${pretty(task.payload)}</pre>
        </section>
        <section class="card" aria-labelledby="result-h">
          <h3 id="result-h">Result</h3>
          <pre tabindex="0" data-result>${pretty(task.result)}</pre>
          ${task.progress != null ? html`<h3>Progress</h3><pre tabindex="0">${pretty(task.progress)}</pre>` : nothing}
        </section>
      </div>
      <section class="card" aria-labelledby="timeline-h">
        <h3 id="timeline-h">Events</h3>
        ${this.timeline.length === 0
          ? html`<p class="muted">No event seen yet (events older than the bus history are not replayed).</p>`
          : html`<ol class="timeline">
              ${this.timeline.map(
                (step) => html`<li>
                  <time datetime=${new Date(step.ts).toISOString()}>${new Date(step.ts).toLocaleTimeString()}</time>
                  <strong>${step.event}</strong>
                  <span class="badge ${tone(step.status)}">${step.status}</span>
                  ${step.agent ? html`on ${step.agent}` : nothing} ${step.error ? html`— ${step.error}` : nothing}
                </li>`,
              )}
            </ol>`}
      </section>
    `;
  }
}
customElements.define('hive-task-detail', TaskDetail);
