// Audit: the security_manager's log of what keys did (read once; the audit
// log publishes no events).
import { LitElement, html } from 'lit';
import { get } from '../api.js';
import { shared } from '../styles.js';

interface Entry {
  seq?: number;
  at_ms?: number;
  ts_ms?: number;
  principal?: string;
  action?: string;
  target?: string;
  outcome?: string;
  [field: string]: unknown;
}

export class AuditLog extends LitElement {
  static override properties = { entries: { state: true }, unavailable: { state: true } };
  declare entries: Entry[];
  declare unavailable: string;
  static override styles = [shared];

  constructor() {
    super();
    this.entries = [];
    this.unavailable = '';
  }

  override connectedCallback(): void {
    super.connectedCallback();
    get<{ items: Entry[] }>('/api/v2/security/audit?limit=200')
      .then((answer) => (this.entries = answer.items))
      .catch((error) => (this.unavailable = `The audit log is not available: ${(error as Error).message}`));
  }

  override render() {
    if (this.unavailable) return html`<h2>Audit</h2><p class="muted">${this.unavailable}</p>`;
    const columns = [...new Set(this.entries.flatMap((e) => Object.keys(e)))].slice(0, 8);
    return html`<h2>Audit</h2>
      ${this.entries.length === 0
        ? html`<p class="muted">No entry.</p>`
        : html`<div class="scroll-x"><table>
            <thead><tr>${columns.map((c) => html`<th scope="col">${c}</th>`)}</tr></thead>
            <tbody>${this.entries.map(
              (e) => html`<tr>${columns.map((c) => html`<td>${typeof e[c] === 'object' ? JSON.stringify(e[c]) : String(e[c] ?? '')}</td>`)}</tr>`,
            )}</tbody></table></div>`}`;
  }
}
customElements.define('hive-audit', AuditLog);
