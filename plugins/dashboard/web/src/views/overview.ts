// Overview: agents by status, queue depth by capability, throughput and
// latency of the last minute, alerts firing.
import { LitElement, html } from 'lit';
import { get } from '../api.js';
import { access } from '../access.js';
import { tasks } from '../store.js';
import { shared, tone } from '../styles.js';
import { Refresher } from './refresh.js';
import './sparkline.js';

interface Agent {
  id: string;
  name: string;
  status: string;
  draining: boolean;
}
interface Queue {
  capabilities: string[] | string;  // task_manager's stats: one string, the set joined
  waiting: number;
}
interface Stats {
  by_status: Record<string, number>;
  queues: Queue[];
}
export interface Alert {
  rule: string;
  state: string;
  severity: string;
  summary?: string;
  labels?: Record<string, string>;
  firing_since_ms?: number;
  active_since_ms?: number;
  resolved_at_ms?: number;
}

export class Overview extends LitElement {
  static override properties = { agents: { state: true }, stats: { state: true }, alerts: { state: true } };
  declare agents: Agent[];
  declare stats: Stats | null;
  declare alerts: Alert[];
  static override styles = [shared];

  protected readonly refresher = new Refresher(this, () => this.load(), { tasks: true, topic: 'alerts' });
  private tick: number | undefined;
  private readonly onChange = () => this.requestUpdate();

  constructor() {
    super();
    this.agents = [];
    this.stats = null;
    this.alerts = [];
  }

  override connectedCallback(): void {
    super.connectedCallback();
    tasks.addEventListener('change', this.onChange);
    // The sparklines slide with the clock even when nothing finishes.
    this.tick = window.setInterval(() => {
      tasks.advanceWindow();
      this.requestUpdate();
    }, 1000);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    tasks.removeEventListener('change', this.onChange);
    window.clearInterval(this.tick);
  }

  private async load(): Promise<void> {
    const [agents, stats, alerts] = await Promise.all([
      access.can('agents:read') && access.has('agents') ? get<{ items: Agent[] }>('/api/v2/agents?limit=1000') : null,
      get<Stats>('/api/v2/tasks/stats'),
      access.can('observability:read') && access.has('alerts')
        ? get<{ items: Alert[] }>('/api/v2/observability/alerts')
        : null,
    ]);
    this.agents = agents?.items ?? [];
    this.stats = stats;
    this.alerts = alerts?.items ?? [];
  }

  override render() {
    const byStatus = new Map<string, number>();
    for (const agent of this.agents) {
      const status = agent.draining ? 'draining' : agent.status;
      byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
    }
    const queues = [...(this.stats?.queues ?? [])].sort((a, b) => b.waiting - a.waiting);
    const firing = this.alerts.filter((a) => a.state === 'firing');
    return html`
      <h2>Overview</h2>
      <div class="cards">
        <section class="card" aria-labelledby="agents-h">
          <h3 id="agents-h">Agents</h3>
          ${this.agents.length === 0
            ? html`<p class="muted">No agent is registered.</p>`
            : html`<ul class="row" aria-label="Agents by status">
                ${[...byStatus].map(([status, n]) => html`<li class="badge ${tone(status)}">${status}: ${n}</li>`)}
              </ul>`}
        </section>
        <section class="card" aria-labelledby="tasks-h">
          <h3 id="tasks-h">Tasks</h3>
          <ul class="row" aria-label="Tasks by status">
            ${Object.entries(this.stats?.by_status ?? {}).map(
              ([status, n]) => html`<li class="badge ${tone(status)}">${status}: ${n}</li>`,
            )}
          </ul>
        </section>
        <section class="card" aria-labelledby="thr-h">
          <h3 id="thr-h">Throughput</h3>
          <hive-sparkline .values=${[...tasks.finishedPerSecond]} label="Tasks finished per second" unit="tasks/s"></hive-sparkline>
        </section>
        <section class="card" aria-labelledby="lat-h">
          <h3 id="lat-h">Run time</h3>
          <hive-sparkline .values=${[...tasks.latencyPerSecond]} label="Mean run time of finished tasks" unit="ms" skipZeros></hive-sparkline>
        </section>
      </div>
      <div class="cards">
        <section class="card" aria-labelledby="queues-h">
          <h3 id="queues-h">Queue depth by capability</h3>
          ${queues.length === 0
            ? html`<p class="muted">No task is waiting.</p>`
            : html`<table>
                <thead><tr><th scope="col">Capabilities</th><th scope="col">Waiting</th></tr></thead>
                <tbody>
                  ${queues.map(
                    (q) => html`<tr><td>${capabilityText(q.capabilities)}</td><td>${q.waiting}</td></tr>`,
                  )}
                </tbody>
              </table>`}
        </section>
        <section class="card" aria-labelledby="alerts-h">
          <h3 id="alerts-h">Alerts</h3>
          ${firing.length === 0
            ? html`<p class="muted">Nothing is firing.</p>`
            : html`<ul>
                ${firing.map(
                  (a) => html`<li><span class="badge bad">${a.severity}</span> <strong>${a.rule}</strong> ${a.summary ?? ''}</li>`,
                )}
              </ul>`}
        </section>
      </div>
    `;
  }
}
function capabilityText(capabilities: string[] | string): string {
  const text = Array.isArray(capabilities) ? capabilities.join(', ') : String(capabilities ?? '');
  return text || '(any)';
}

customElements.define('hive-overview', Overview);
