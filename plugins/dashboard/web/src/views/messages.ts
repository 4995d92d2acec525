// Messages between agents and their dead letters (communication_manager),
// re-read when a `messages` event arrives; replay or discard a dead letter.
import { LitElement, html, nothing } from 'lit';
import { access } from '../access.js';
import { ApiError, call, get, post } from '../api.js';
import { ago, pretty, shared } from '../styles.js';
import { Refresher } from './refresh.js';

interface Message {
  id: string;
  from?: string;
  to?: string;
  recipient?: string;
  body?: unknown;
  ts?: number;
  queued_at_ms?: number;
}
interface DeadLetter {
  id: string;
  agent: string;
  reason: string;
  deliveries: number;
  message: Message;
}

export class Messages extends LitElement {
  static override properties = {
    messages: { state: true },
    dead: { state: true },
    outcome: { state: true },
    unavailable: { state: true },
  };
  declare messages: Message[];
  declare dead: DeadLetter[];
  declare outcome: { ok: boolean; text: string } | null;
  declare unavailable: string;
  static override styles = [shared];

  protected readonly refresher = new Refresher(this, () => this.load(), { gapMs: 500, topic: 'messages*' });

  constructor() {
    super();
    this.messages = [];
    this.dead = [];
    this.outcome = null;
    this.unavailable = '';
  }

  private async load(): Promise<void> {
    try {
      const [recent, dead] = await Promise.all([
        get<{ items: Message[] }>('/api/v2/messages?limit=200'),
        get<{ items: DeadLetter[] }>('/api/v2/messages/dlq?limit=200'),
      ]);
      this.messages = recent.items.slice().reverse();
      this.dead = dead.items;
      this.unavailable = '';
    } catch (error) {
      const status = (error as ApiError).status;
      this.unavailable = status === 404 ? 'Messaging (communication_manager) is not running.' : (error as Error).message;
    }
  }

  private async replay(letter: DeadLetter): Promise<void> {
    try {
      await post(`/api/v2/messages/dlq/${encodeURIComponent(letter.id)}/replay`);
      this.outcome = { ok: true, text: `Queued again for ${letter.agent}.` };
    } catch (error) {
      this.outcome = { ok: false, text: `Replay refused: ${(error as ApiError).message}` };
    }
    this.refresher.request();
  }

  private async discard(letter: DeadLetter): Promise<void> {
    try {
      await call('DELETE', `/api/v2/messages/dlq/${encodeURIComponent(letter.id)}`);
      this.outcome = { ok: true, text: 'Discarded.' };
    } catch (error) {
      this.outcome = { ok: false, text: `Discard refused: ${(error as ApiError).message}` };
    }
    this.refresher.request();
  }

  override render() {
    if (this.unavailable) return html`<h2>Messages</h2><p class="muted">${this.unavailable}</p>`;
    const canWrite = access.can('messages:write');
    return html`<h2>Messages</h2>
      ${this.outcome ? html`<p class="outcome ${this.outcome.ok ? '' : 'error'}" role="status">${this.outcome.text}</p>` : nothing}
      <h3>Dead letters</h3>
      ${this.dead.length === 0
        ? html`<p class="muted">No dead letter.</p>`
        : html`<div class="scroll-x"><table>
            <thead><tr><th scope="col">Recipient</th><th scope="col">Reason</th><th scope="col">Deliveries</th><th scope="col">Body</th>
              ${canWrite ? html`<th scope="col"><span class="visually-hidden">Actions</span></th>` : nothing}</tr></thead>
            <tbody>${this.dead.map(
              (d) => html`<tr>
                <th scope="row">${d.agent}</th><td>${d.reason}</td><td>${d.deliveries}</td>
                <td><pre tabindex="0">${pretty(d.message?.body)}</pre></td>
                ${canWrite
                  ? html`<td><div class="row">
                      <button @click=${() => this.replay(d)}>Replay</button>
                      <button @click=${() => this.discard(d)}>Discard</button>
                    </div></td>`
                  : nothing}
              </tr>`,
            )}</tbody></table></div>`}
      <h3>Recent messages</h3>
      ${this.messages.length === 0
        ? html`<p class="muted">No message in the bus history.</p>`
        : html`<div class="scroll-x"><table>
            <thead><tr><th scope="col">From</th><th scope="col">To</th><th scope="col">Body</th><th scope="col">When</th></tr></thead>
            <tbody>${this.messages.map(
              (m) => html`<tr>
                <td>${m.from ?? ''}</td><td>${m.recipient ?? m.to ?? ''}</td>
                <td><pre tabindex="0">${pretty(m.body)}</pre></td><td>${ago(m.ts ?? m.queued_at_ms)}</td>
              </tr>`,
            )}</tbody></table></div>`}`;
  }
}
customElements.define('hive-messages', Messages);
