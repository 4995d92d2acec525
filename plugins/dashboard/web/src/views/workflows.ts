// Workflows: runs (live from the `workflows` topic) and one run's DAG drawn
// in SVG, each step coloured by its state as events arrive; approve, reject,
// pause, resume, cancel or retry from here.
import { LitElement, css, html, nothing, svg } from 'lit';
import { access } from '../access.js';
import { ApiError, get, post } from '../api.js';
import { ago, pretty, shared, tone } from '../styles.js';
import { Refresher } from './refresh.js';

interface RunStep {
  name: string;
  status: string;
  task_id?: string;
  result?: unknown;
  error?: string;
}
interface Run {
  id: string;
  workflow: string;
  version: number;
  status: string;
  steps?: RunStep[];
  created_at_ms?: number;
  updated_at_ms?: number;
}
interface Definition {
  name: string;
  steps: { name: string; depends_on?: string[]; approval?: unknown }[];
}

const NODE_W = 130;
const NODE_H = 40;
const GAP_X = 50;
const GAP_Y = 20;

export class Workflows extends LitElement {
  static override properties = {
    runId: {},
    runs: { state: true },
    run: { state: true },
    definition: { state: true },
    outcome: { state: true },
    unavailable: { state: true },
  };
  declare runId: string;
  declare runs: Run[];
  declare run: Run | null;
  declare definition: Definition | null;
  declare outcome: { ok: boolean; text: string } | null;
  declare unavailable: string;

  static override styles = [
    shared,
    css`
      svg.dag {
        display: block;
        width: 100%;
        max-width: 48rem;
        max-height: 28rem;
      }
      .node rect {
        fill: var(--surface);
        stroke: var(--border-strong);
        stroke-width: 1.5;
        rx: 6;
      }
      .node.ok rect {
        fill: var(--ok-bg);
      }
      .node.bad rect {
        fill: var(--bad-bg);
      }
      .node.busy rect {
        fill: var(--busy-bg);
      }
      .node.warn rect {
        fill: var(--warn-bg);
      }
      .node text {
        fill: var(--text);
        font-size: 12px;
      }
      .edge {
        stroke: var(--border-strong);
        fill: none;
        stroke-width: 1.5;
      }
    `,
  ];

  protected readonly refresher = new Refresher(this, () => this.load(), { gapMs: 300, topic: 'workflows' });

  constructor() {
    super();
    this.runId = '';
    this.runs = [];
    this.run = null;
    this.definition = null;
    this.outcome = null;
    this.unavailable = '';
  }

  override willUpdate(changed: Map<string, unknown>): void {
    if (changed.has('runId') && changed.get('runId') !== undefined) {
      this.definition = null;
      this.run = null;
      this.refresher.request();
    }
  }

  private async load(): Promise<void> {
    try {
      if (this.runId) {
        const run = await get<Run>(`/api/v2/workflows/runs/${encodeURIComponent(this.runId)}`);
        if (!this.definition || this.definition.name !== run.workflow) {
          // The stored record holds the definition as registered.
          const record = await get<Definition & { definition?: Definition }>(
            `/api/v2/workflows/${encodeURIComponent(run.workflow)}?version=${run.version}`,
          );
          this.definition = record.definition ?? record;
        }
        this.run = run;
      } else {
        this.runs = (await get<{ items: Run[] }>('/api/v2/workflows/runs?limit=200')).items;
      }
      this.unavailable = '';
    } catch (error) {
      const status = (error as ApiError).status;
      this.unavailable = status === 404 ? 'The workflow engine is not running.' : (error as Error).message;
    }
  }

  private async act(path: string, what: string): Promise<void> {
    try {
      await post(path, {});
      this.outcome = { ok: true, text: `${what}: done.` };
    } catch (error) {
      this.outcome = { ok: false, text: `${what} refused: ${(error as ApiError).message}` };
    }
    this.refresher.request();
  }

  override render() {
    if (this.unavailable) return html`<h2>Workflows</h2><p class="muted">${this.unavailable}</p>`;
    return this.runId ? this.renderRun() : this.renderRuns();
  }

  private renderRuns() {
    return html`<h2>Workflow runs</h2>
      ${this.runs.length === 0
        ? html`<p class="muted">No run yet.</p>`
        : html`<div class="scroll-x"><table>
            <thead><tr><th scope="col">Run</th><th scope="col">Workflow</th><th scope="col">Status</th><th scope="col">Updated</th></tr></thead>
            <tbody>
              ${this.runs.map(
                (r) => html`<tr>
                  <td><a href="#/workflows/${encodeURIComponent(r.id)}">${r.id}</a></td>
                  <td>${r.workflow} v${r.version}</td>
                  <td><span class="badge ${tone(r.status)}">${r.status}</span></td>
                  <td>${ago(r.updated_at_ms)}</td>
                </tr>`,
              )}
            </tbody>
          </table></div>`}`;
  }

  private renderRun() {
    const run = this.run;
    if (!run) return html`<p class="muted">Loading ${this.runId}…</p>`;
    const canWrite = access.can('workflows:write');
    const base = `/api/v2/workflows/runs/${encodeURIComponent(run.id)}`;
    return html`<p><a href="#/workflows">← All runs</a></p>
      <div class="row">
        <h2>${run.workflow} <span class="muted">${run.id}</span></h2>
        <span class="badge ${tone(run.status)}" role="status">${run.status}</span>
        ${canWrite && run.status === 'running'
          ? html`<button @click=${() => this.act(`${base}/pause`, 'Pause')}>Pause</button>`
          : nothing}
        ${canWrite && run.status === 'paused'
          ? html`<button class="primary" @click=${() => this.act(`${base}/resume`, 'Resume')}>Resume</button>`
          : nothing}
        ${canWrite && (run.status === 'running' || run.status === 'paused')
          ? html`<button @click=${() => this.act(`${base}/cancel`, 'Cancel')}>Cancel run</button>`
          : nothing}
        ${canWrite && (run.status === 'failed' || run.status === 'cancelled')
          ? html`<button class="primary" @click=${() => this.act(`${base}/retry`, 'Retry')}>Retry from the failed steps</button>`
          : nothing}
      </div>
      ${this.outcome ? html`<p class="outcome ${this.outcome.ok ? '' : 'error'}" role="status">${this.outcome.text}</p>` : nothing}
      <section class="card">${this.renderDag(run)}</section>
      <h3>Steps</h3>
      <div class="scroll-x"><table>
        <thead><tr><th scope="col">Step</th><th scope="col">Status</th><th scope="col">Task</th><th scope="col">Result</th>
          ${canWrite ? html`<th scope="col"><span class="visually-hidden">Actions</span></th>` : nothing}</tr></thead>
        <tbody>
          ${(run.steps ?? []).map(
            (s) => html`<tr>
              <th scope="row">${s.name}</th>
              <td><span class="badge ${tone(s.status)}">${s.status}</span>${s.error ? html`<div class="muted">${s.error}</div>` : nothing}</td>
              <td>${s.task_id ? html`<a href="#/tasks/${encodeURIComponent(s.task_id)}">${s.task_id}</a>` : '—'}</td>
              <td><pre tabindex="0">${pretty(s.result)}</pre></td>
              ${canWrite
                ? html`<td>${s.status === 'waiting'
                    ? html`<div class="row">
                        <button class="primary" @click=${() => this.act(`${base}/steps/${encodeURIComponent(s.name)}/approve`, `Approve ${s.name}`)}>Approve</button>
                        <button @click=${() => this.act(`${base}/steps/${encodeURIComponent(s.name)}/reject`, `Reject ${s.name}`)}>Reject</button>
                      </div>`
                    : nothing}</td>`
                : nothing}
            </tr>`,
          )}
        </tbody>
      </table></div>`;
  }

  // Columns by depth (longest path from a root), rows in definition order.
  private renderDag(run: Run) {
    const steps = this.definition?.steps ?? (run.steps ?? []).map((s) => ({ name: s.name, depends_on: [] as string[] }));
    const depth = new Map<string, number>();
    const depthOf = (name: string, seen = new Set<string>()): number => {
      if (depth.has(name)) return depth.get(name)!;
      if (seen.has(name)) return 0;
      seen.add(name);
      const step = steps.find((s) => s.name === name);
      const d = Math.max(-1, ...(step?.depends_on ?? []).map((p) => depthOf(p, seen))) + 1;
      depth.set(name, d);
      return d;
    };
    const columns: string[][] = [];
    for (const step of steps) (columns[depthOf(step.name)] ??= []).push(step.name);
    const position = new Map<string, { x: number; y: number }>();
    columns.forEach((names, c) =>
      names.forEach((name, r) => position.set(name, { x: c * (NODE_W + GAP_X) + 5, y: r * (NODE_H + GAP_Y) + 5 })),
    );
    const width = columns.length * (NODE_W + GAP_X);
    const height = Math.max(...columns.map((c) => c.length), 1) * (NODE_H + GAP_Y);
    const status = new Map((run.steps ?? []).map((s) => [s.name, s.status]));
    const label = steps.map((s) => `${s.name}: ${status.get(s.name) ?? 'pending'}`).join(', ');
    return html`<svg class="dag" viewBox="0 0 ${width} ${height}" role="img" aria-label="Steps and their order. ${label}">
      ${steps.flatMap((s) =>
        (s.depends_on ?? []).map((p) => {
          const from = position.get(p);
          const to = position.get(s.name);
          if (!from || !to) return svg``;
          const x1 = from.x + NODE_W, y1 = from.y + NODE_H / 2, x2 = to.x, y2 = to.y + NODE_H / 2;
          return svg`<path class="edge" d="M${x1},${y1} C${x1 + GAP_X / 2},${y1} ${x2 - GAP_X / 2},${y2} ${x2},${y2}"></path>`;
        }),
      )}
      ${steps.map((s) => {
        const at = position.get(s.name)!;
        const state = status.get(s.name) ?? 'pending';
        return svg`<g class="node ${tone(state)}" data-step=${s.name} data-status=${state} transform="translate(${at.x},${at.y})">
          <rect width=${NODE_W} height=${NODE_H}></rect>
          <text x="8" y="16">${s.name.slice(0, 16)}</text>
          <text x="8" y="32">${state}</text>
        </g>`;
      })}
    </svg>`;
  }
}
customElements.define('hive-workflows', Workflows);
