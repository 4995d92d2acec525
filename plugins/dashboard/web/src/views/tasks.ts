// The task list: every task the store holds, newest first, filtered in the
// browser, drawn as a virtual list (only the rows in view exist in the DOM, so
// 100,000 tasks scroll as smoothly as 100). Submit a task from here.
import { LitElement, css, html, nothing } from 'lit';
import { access } from '../access.js';
import { ApiError, post } from '../api.js';
import { tasks, type Task } from '../store.js';
import { ago, shared, tone } from '../styles.js';

const ROW_HEIGHT = 40;  // px; fixed so that a row's position is index * height
const OVERSCAN = 8;
const STATUSES = ['pending', 'assigned', 'running', 'succeeded', 'failed', 'cancelled', 'dead'];

export class TaskList extends LitElement {
  static override properties = {
    status: { state: true },
    search: { state: true },
    scrollTop: { state: true },
    viewport: { state: true },
    showSubmit: { state: true },
    outcome: { state: true },
  };
  declare status: string;
  declare search: string;
  declare scrollTop: number;
  declare viewport: number;
  declare showSubmit: boolean;
  declare outcome: { ok: boolean; text: string } | null;

  static override styles = [
    shared,
    css`
      .filters {
        margin-bottom: 0.5rem;
      }
      .viewport {
        height: calc(100vh - 14rem);
        min-height: 16rem;
        overflow-y: auto;
        border: 1px solid var(--border);
        border-radius: 8px;
        background: var(--surface);
        contain: strict;
      }
      ol {
        position: relative;
        list-style: none;
        margin: 0;
        padding: 0;
      }
      li {
        position: absolute;
        left: 0;
        right: 0;
        top: 0;
        height: 40px;
        box-sizing: border-box;
        border-bottom: 1px solid var(--border);
      }
      li a {
        display: grid;
        grid-template-columns: minmax(6rem, 14rem) minmax(5rem, 1fr) 6.5rem minmax(4rem, 9rem) 3rem 6rem;
        gap: 0.5rem;
        align-items: center;
        height: 100%;
        padding: 0 0.75rem;
        color: var(--text);
        text-decoration: none;
      }
      li a:hover {
        background: var(--button);
      }
      .id {
        font-family: ui-monospace, monospace;
        font-size: 0.85rem;
        overflow: hidden;
        text-overflow: ellipsis;
        white-space: nowrap;
      }
      .cell {
        overflow: hidden;
        text-overflow: ellipsis;
        white-space: nowrap;
      }
      @media (max-width: 640px) {
        li a {
          grid-template-columns: 1fr 6.5rem;
        }
        .wide {
          display: none;
        }
      }
      form.submit {
        display: grid;
        gap: 0.5rem;
        grid-template-columns: repeat(auto-fit, minmax(12rem, 1fr));
        margin-bottom: 0.75rem;
      }
      form.submit textarea {
        min-height: 4rem;
        font-family: ui-monospace, monospace;
      }
      form.submit .full {
        grid-column: 1 / -1;
      }
    `,
  ];

  private filtered: Task[] = [];
  private filterKey = '';
  private filteredVersion = -1;
  private readonly onChange = () => this.requestUpdate();
  private resizeObserver = new ResizeObserver((entries) => {
    this.viewport = entries[0].contentRect.height;
  });

  constructor() {
    super();
    this.status = '';
    this.search = '';
    this.scrollTop = 0;
    this.viewport = 600;
    this.showSubmit = false;
    this.outcome = null;
  }

  override connectedCallback(): void {
    super.connectedCallback();
    tasks.addEventListener('change', this.onChange);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    tasks.removeEventListener('change', this.onChange);
    this.resizeObserver.disconnect();
  }

  // Positions go through the CSSOM: the policy refuses style attributes.
  override updated(): void {
    const list = this.renderRoot.querySelector<HTMLElement>('ol');
    if (!list) return;
    list.style.height = `${Number(list.dataset.count) * ROW_HEIGHT}px`;
    for (const row of list.querySelectorAll<HTMLElement>('li'))
      row.style.transform = `translateY(${Number(row.dataset.index) * ROW_HEIGHT}px)`;
  }

  override firstUpdated(): void {
    const viewport = this.renderRoot.querySelector('.viewport');
    if (viewport) this.resizeObserver.observe(viewport);
  }

  // Newest first; recomputed only when the filter or the store changed.
  private rows(): Task[] {
    const all = tasks.tasks();
    const key = `${this.status}\u0000${this.search}`;
    if (!this.status && !this.search) {
      this.filterKey = key;
      return all;
    }
    if (key !== this.filterKey || this.filteredVersion !== tasks.version) {
      const needle = this.search.toLowerCase();
      this.filtered = all.filter(
        (t) =>
          (!this.status || t.status === this.status) &&
          (!needle ||
            t.id.toLowerCase().includes(needle) ||
            t.type.toLowerCase().includes(needle) ||
            (t.agent ?? '').toLowerCase().includes(needle) ||
            t.capabilities.some((c) => c.toLowerCase().includes(needle))),
      );
      this.filterKey = key;
      this.filteredVersion = tasks.version;
    }
    return this.filtered;
  }

  private async submit(event: SubmitEvent): Promise<void> {
    event.preventDefault();
    const form = event.target as HTMLFormElement;
    const data = new FormData(form);
    let payload: unknown = {};
    const payloadText = String(data.get('payload') ?? '').trim();
    try {
      payload = payloadText ? JSON.parse(payloadText) : {};
    } catch {
      this.outcome = { ok: false, text: 'The payload is not JSON.' };
      return;
    }
    const capabilities = String(data.get('capabilities') ?? '')
      .split(',')
      .map((c) => c.trim())
      .filter(Boolean);
    try {
      const task = await post<Task>('/api/v2/tasks', {
        type: String(data.get('type') ?? '').trim(),
        capabilities,
        priority: Number(data.get('priority') ?? 5),
        payload,
      });
      this.outcome = { ok: true, text: `Submitted ${task.id}.` };
      form.reset();
    } catch (error) {
      this.outcome = { ok: false, text: `Refused: ${(error as ApiError).message}` };
    }
  }

  override render() {
    const rows = this.rows();
    const count = rows.length;
    const first = Math.max(0, Math.floor(this.scrollTop / ROW_HEIGHT) - OVERSCAN);
    const last = Math.min(count, Math.ceil((this.scrollTop + this.viewport) / ROW_HEIGHT) + OVERSCAN);
    const visible = [];
    for (let i = first; i < last; i++) visible.push(i);
    return html`
      <div class="row">
        <h2>Tasks</h2>
        ${access.can('tasks:write')
          ? html`<button @click=${() => (this.showSubmit = !this.showSubmit)} aria-expanded=${this.showSubmit ? 'true' : 'false'}>
              Submit a task
            </button>`
          : nothing}
      </div>
      ${this.showSubmit
        ? html`<form class="submit card" @submit=${this.submit}>
            <label>Type <input name="type" required value="echo" /></label>
            <label>Capabilities (comma separated) <input name="capabilities" /></label>
            <label>Priority <input name="priority" type="number" min="1" max="10" value="5" /></label>
            <label class="full">Payload (JSON) <textarea name="payload">{}</textarea></label>
            <div class="full"><button class="primary" type="submit">Submit</button></div>
          </form>`
        : nothing}
      ${this.outcome
        ? html`<p class="outcome ${this.outcome.ok ? '' : 'error'}" role="status">${this.outcome.text}</p>`
        : nothing}
      <div class="row filters">
        <label
          >Status
          <select @change=${(e: Event) => (this.status = (e.target as HTMLSelectElement).value)}>
            <option value="">any</option>
            ${STATUSES.map((s) => html`<option value=${s} ?selected=${s === this.status}>${s}</option>`)}
          </select>
        </label>
        <label
          >Search (id, type, agent, capability)
          <input type="search" .value=${this.search} @input=${(e: Event) => (this.search = (e.target as HTMLInputElement).value)} />
        </label>
        <span class="muted" role="status" data-count=${count}
          >${count.toLocaleString()} of ${tasks.size.toLocaleString()} tasks${tasks.loading ? ' (loading…)' : ''}</span
        >
      </div>
      <div
        class="viewport"
        tabindex="0"
        aria-label="Tasks, newest first"
        @scroll=${(e: Event) => (this.scrollTop = (e.target as HTMLElement).scrollTop)}
      >
        <ol data-count=${count}>
          ${visible.map((i) => {
            const task = rows[count - 1 - i];
            return html`<li data-index=${i} data-id=${task.id} aria-setsize=${count} aria-posinset=${i + 1}>
              <a href="#/tasks/${encodeURIComponent(task.id)}">
                <span class="id">${task.id}</span>
                <span class="cell wide">${task.type}</span>
                <span><span class="badge ${tone(task.status)}" data-status=${task.status}>${task.status}</span></span>
                <span class="cell wide">${task.agent ?? ''}</span>
                <span class="cell wide" title="attempts">${task.attempts}</span>
                <span class="cell wide muted">${ago(task.created_at_ms)}</span>
              </a>
            </li>`;
          })}
        </ol>
      </div>
    `;
  }
}
customElements.define('hive-tasks', TaskList);
