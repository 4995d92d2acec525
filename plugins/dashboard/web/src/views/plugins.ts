// Plugins: name, version, generation, state, leases; reload one, reload the
// config, and show what happened. Re-read after every action and reconnect.
import { LitElement, html, nothing } from 'lit';
import { access } from '../access.js';
import { ApiError, call, get } from '../api.js';
import { live } from '../live.js';
import { shared, tone } from '../styles.js';

interface Plugin {
  name: string;
  version: string;
  state: string;
  generation: number;
  file?: string;
  error?: string;
  leasesInFlight?: number;
  provides?: string[];
}

interface Reload {
  id: number;
  plugin: string;
  state: string;
  generationBefore: number;
  generationAfter: number;
  error?: string;
}

export class PluginList extends LitElement {
  static override properties = { plugins: { state: true }, outcome: { state: true }, busy: { state: true } };
  declare plugins: Plugin[];
  declare outcome: { ok: boolean; text: string } | null;
  declare busy: string;
  static override styles = [shared];

  // A reload of `api` answers 202 and then drops our WebSocket: its outcome is
  // read once the connection is back (the new generation serves it).
  private pendingReload: string | null = null;
  private readonly onLive = () => {
    if (live.state === 'open') void this.afterReconnect();
  };

  constructor() {
    super();
    this.plugins = [];
    this.outcome = null;
    this.busy = '';
  }

  override connectedCallback(): void {
    super.connectedCallback();
    live.addEventListener('state', this.onLive);
    void this.load();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    live.removeEventListener('state', this.onLive);
  }

  private async load(): Promise<void> {
    try {
      this.plugins = (await get<{ items: Plugin[] }>('/api/v2/admin/plugins')).items;
    } catch (error) {
      // Without an auth provider: the local token is missing (the detail says where it is).
      this.outcome = { ok: false, text: `Plugins not shown: ${(error as ApiError).message}` };
    }
  }

  private async afterReconnect(): Promise<void> {
    await this.load().catch(() => undefined);
    if (!this.pendingReload) return;
    try {
      const record = await get<Reload>(this.pendingReload);
      this.pendingReload = null;
      this.report(record);
    } catch {
      // Not answered yet: the next reconnect asks again.
    }
  }

  private report(record: Reload): void {
    this.outcome =
      record.state === 'failed'
        ? { ok: false, text: `${record.plugin}: reload failed: ${record.error ?? 'unknown'}` }
        : {
            ok: true,
            text: `${record.plugin}: ${record.state}, generation ${record.generationBefore} → ${record.generationAfter || '…'}`,
          };
  }

  private async reload(plugin: Plugin): Promise<void> {
    this.busy = plugin.name;
    const before = plugin.generation;
    try {
      const answer = await call<Plugin | Reload>('POST', `/api/v2/admin/plugins/${encodeURIComponent(plugin.name)}/reload`, {});
      if (answer.status === 202) {
        const record = answer.body as Reload;
        this.pendingReload = `/api/v2/admin/reloads/${record.id}`;
        this.report(record);
      } else {
        const after = answer.body as Plugin;
        this.outcome = { ok: true, text: `${plugin.name}: swapped, generation ${before} → ${after.generation}` };
      }
    } catch (error) {
      this.outcome = { ok: false, text: `${plugin.name}: reload refused: ${(error as ApiError).message}` };
    } finally {
      this.busy = '';
    }
    await this.load().catch(() => undefined);
  }

  private async reloadConfig(): Promise<void> {
    this.busy = 'config';
    try {
      const answer = await call<{ status: string }>('POST', '/api/v2/admin/config/reload', {});
      this.outcome = { ok: true, text: `Configuration ${answer.body?.status ?? 'reloaded'}.` };
    } catch (error) {
      this.outcome = { ok: false, text: `Configuration not applied: ${(error as ApiError).message}` };
    } finally {
      this.busy = '';
    }
    await this.load().catch(() => undefined);
  }

  override render() {
    const canWrite = access.can('admin:write');
    return html`
      <div class="row">
        <h2>Plugins</h2>
        ${canWrite ? html`<button ?disabled=${this.busy !== ''} @click=${this.reloadConfig}>Reload config</button>` : nothing}
      </div>
      ${this.outcome
        ? html`<p class="outcome ${this.outcome.ok ? '' : 'error'}" role="status" data-outcome>${this.outcome.text}</p>`
        : nothing}
      <div class="scroll-x">
        <table>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Version</th>
              <th scope="col">Generation</th>
              <th scope="col">State</th>
              <th scope="col">Leases</th>
              ${canWrite ? html`<th scope="col"><span class="visually-hidden">Actions</span></th>` : nothing}
            </tr>
          </thead>
          <tbody>
            ${this.plugins.map(
              (p) => html`<tr data-plugin=${p.name}>
                <th scope="row">${p.name}${p.error ? html`<div class="muted">${p.error}</div>` : nothing}</th>
                <td>${p.version}</td>
                <td data-generation>${p.generation}</td>
                <td><span class="badge ${tone(p.state)}">${p.state}</span></td>
                <td>${p.leasesInFlight ?? 0}</td>
                ${canWrite
                  ? html`<td>
                      <button ?disabled=${this.busy !== ''} @click=${() => this.reload(p)} aria-label="Reload ${p.name}">Reload</button>
                    </td>`
                  : nothing}
              </tr>`,
            )}
          </tbody>
        </table>
      </div>
    `;
  }
}
customElements.define('hive-plugins', PluginList);
