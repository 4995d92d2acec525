// Alerts: pending and firing now, and the recently resolved, live from the
// `alerts` topic.
import { LitElement, html } from 'lit';
import { get } from '../api.js';
import { ago, shared, tone } from '../styles.js';
import type { Alert } from './overview.js';
import { Refresher } from './refresh.js';

export class AlertList extends LitElement {
  static override properties = { active: { state: true }, resolved: { state: true }, unavailable: { state: true } };
  declare active: Alert[];
  declare resolved: Alert[];
  declare unavailable: string;
  static override styles = [shared];

  protected readonly refresher = new Refresher(this, () => this.load(), { gapMs: 300, topic: 'alerts' });

  constructor() {
    super();
    this.active = [];
    this.resolved = [];
    this.unavailable = '';
  }

  private async load(): Promise<void> {
    try {
      const answer = await get<{ items: Alert[]; resolved: Alert[] }>('/api/v2/observability/alerts');
      this.active = answer.items;
      this.resolved = answer.resolved;
      this.unavailable = '';
    } catch (error) {
      this.unavailable = `Alerts are not available: ${(error as Error).message}`;
    }
  }

  private table(alerts: Alert[], empty: string) {
    if (alerts.length === 0) return html`<p class="muted">${empty}</p>`;
    return html`<div class="scroll-x"><table>
      <thead><tr><th scope="col">Rule</th><th scope="col">State</th><th scope="col">Severity</th><th scope="col">Labels</th><th scope="col">Since</th></tr></thead>
      <tbody>
        ${alerts.map(
          (a) => html`<tr>
            <th scope="row">${a.rule}<div class="muted">${a.summary ?? ''}</div></th>
            <td><span class="badge ${tone(a.state)}">${a.state}</span></td>
            <td>${a.severity}</td>
            <td>${Object.entries(a.labels ?? {}).map(([k, v]) => html`<div>${k}=${v}</div>`)}</td>
            <td>${ago(a.resolved_at_ms ?? a.firing_since_ms ?? a.active_since_ms)}</td>
          </tr>`,
        )}
      </tbody></table></div>`;
  }

  override render() {
    if (this.unavailable) return html`<h2>Alerts</h2><p class="muted">${this.unavailable}</p>`;
    return html`<h2>Alerts</h2>
      ${this.table(this.active, 'Nothing is pending or firing.')}
      <h3>Recently resolved</h3>
      ${this.table(this.resolved, 'Nothing resolved recently.')}`;
  }
}
customElements.define('hive-alerts', AlertList);
