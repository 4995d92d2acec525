// Agents: status, capabilities, tasks in flight, circuit breaker; drain one.
// Re-read when task events show work moving (agents publish no events yet).
import { LitElement, html, nothing } from 'lit';
import { access } from '../access.js';
import { ApiError, get, post } from '../api.js';
import { ago, shared, tone } from '../styles.js';
import { Refresher } from './refresh.js';

interface Agent {
  id: string;
  name: string;
  capabilities: string[];
  runtime: string;
  max_concurrency: number;
  status: string;
  draining: boolean;
  last_heartbeat_ms: number;
  node: string;
  circuit_breaker: { state: string; consecutive_failures: number };
  in_flight: string[];
  succeeded: number;
  failed: number;
}

export class AgentList extends LitElement {
  static override properties = { agents: { state: true }, outcome: { state: true } };
  declare agents: Agent[];
  declare outcome: { ok: boolean; text: string } | null;
  static override styles = [shared];

  protected readonly refresher = new Refresher(this, () => this.load(), { gapMs: 500, tasks: true });

  constructor() {
    super();
    this.agents = [];
    this.outcome = null;
  }

  private async load(): Promise<void> {
    this.agents = (await get<{ items: Agent[] }>('/api/v2/agents?limit=1000')).items;
  }

  private async drain(agent: Agent): Promise<void> {
    try {
      await post(`/api/v2/agents/${encodeURIComponent(agent.id)}/drain`);
      this.outcome = { ok: true, text: `${agent.name} is draining: it gets no new task.` };
    } catch (error) {
      this.outcome = { ok: false, text: `Drain refused: ${(error as ApiError).message}` };
    }
    await this.load();
  }

  override render() {
    const canWrite = access.can('agents:write');
    return html`
      <h2>Agents</h2>
      ${this.outcome ? html`<p class="outcome ${this.outcome.ok ? '' : 'error'}" role="status">${this.outcome.text}</p>` : nothing}
      ${this.agents.length === 0
        ? html`<p class="muted">No agent is registered.</p>`
        : html`<div class="scroll-x">
            <table>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Status</th>
                  <th scope="col">Capabilities</th>
                  <th scope="col">In flight</th>
                  <th scope="col">Breaker</th>
                  <th scope="col">Done / failed</th>
                  <th scope="col">Heartbeat</th>
                  ${canWrite ? html`<th scope="col"><span class="visually-hidden">Actions</span></th>` : nothing}
                </tr>
              </thead>
              <tbody>
                ${this.agents.map(
                  (a) => html`<tr data-agent=${a.id}>
                    <th scope="row">${a.name}<div class="muted">${a.runtime}${a.node ? ` · ${a.node}` : ''}</div></th>
                    <td>
                      <span class="badge ${tone(a.status)}" data-status=${a.status}>${a.status}</span>
                      ${a.draining ? html`<span class="badge warn" data-draining>draining</span>` : nothing}
                    </td>
                    <td>${a.capabilities.join(', ') || '(any)'}</td>
                    <td>
                      ${a.in_flight.length} / ${a.max_concurrency}
                      ${a.in_flight.slice(0, 3).map((id) => html`<div><a href="#/tasks/${encodeURIComponent(id)}">${id}</a></div>`)}
                    </td>
                    <td>
                      <span class="badge ${tone(a.circuit_breaker.state)}">${a.circuit_breaker.state}</span>
                      ${a.circuit_breaker.consecutive_failures ? html`<div class="muted">${a.circuit_breaker.consecutive_failures} failures</div>` : nothing}
                    </td>
                    <td>${a.succeeded} / ${a.failed}</td>
                    <td>${ago(a.last_heartbeat_ms)}</td>
                    ${canWrite
                      ? html`<td>
                          <button ?disabled=${a.draining} @click=${() => this.drain(a)} aria-label="Drain ${a.name}">Drain</button>
                        </td>`
                      : nothing}
                  </tr>`,
                )}
              </tbody>
            </table>
          </div>`}
    `;
  }
}
customElements.define('hive-agents', AgentList);
