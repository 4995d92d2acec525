// The app shell: navigation, the live-connection indicator, theme, sign-in,
// and the view of the current #/route.
import { LitElement, css, html, type TemplateResult } from 'lit';
import { access } from './access.js';
import { session } from './api.js';
import { live } from './live.js';
import { shared } from './styles.js';
import { tasks } from './store.js';
import './views/overview.js';
import './views/tasks.js';
import './views/task-detail.js';
import './views/agents.js';
import './views/plugins.js';
import './views/workflows.js';
import './views/alerts.js';
import './views/audit.js';
import './views/messages.js';

interface Section {
  path: string;
  label: string;
  permission: string;
  feature?: string;  // shown only while its API runs
}

const SECTIONS: Section[] = [
  { path: 'overview', label: 'Overview', permission: 'tasks:read' },
  { path: 'tasks', label: 'Tasks', permission: 'tasks:read', feature: 'tasks' },
  { path: 'agents', label: 'Agents', permission: 'agents:read', feature: 'agents' },
  { path: 'workflows', label: 'Workflows', permission: 'workflows:read', feature: 'workflows' },
  { path: 'plugins', label: 'Plugins', permission: 'admin:read' },
  { path: 'messages', label: 'Messages', permission: 'messages:read', feature: 'messages' },
  { path: 'alerts', label: 'Alerts', permission: 'observability:read', feature: 'alerts' },
  { path: 'audit', label: 'Audit', permission: 'security:read', feature: 'audit' },
];

const THEME_KEY = 'hive.dashboard.theme';

export class HiveApp extends LitElement {
  static override properties = {
    route: { state: true },
    liveState: { state: true },
    signInError: { state: true },
    ready: { state: true },
  };
  declare route: string[];
  declare liveState: string;
  declare signInError: string;
  declare ready: boolean;

  static override styles = [
    shared,
    css`
      header {
        display: flex;
        flex-wrap: wrap;
        align-items: center;
        gap: 0.5rem 1rem;
        padding: 0.5rem 1rem;
        background: var(--surface);
        border-bottom: 1px solid var(--border);
      }
      .brand {
        font-weight: 700;
        font-size: 1.1rem;
        margin: 0;
        display: flex;
        align-items: center;
        gap: 0.4rem;
      }
      .brand img {
        width: 1.5rem;
        height: 1.5rem;
      }
      nav ul {
        display: flex;
        flex-wrap: wrap;
        gap: 0.25rem;
        list-style: none;
        margin: 0;
        padding: 0;
      }
      nav a {
        display: block;
        padding: 0.3rem 0.6rem;
        border-radius: 6px;
        text-decoration: none;
        color: var(--text);
      }
      nav a[aria-current='page'] {
        background: var(--accent);
        color: var(--on-accent);
      }
      .tools {
        margin-left: auto;
        display: flex;
        gap: 0.5rem;
        align-items: center;
      }
      main {
        padding: 1rem;
        max-width: 90rem;
        margin: 0 auto;
      }
      form.signin {
        max-width: 26rem;
        margin: 3rem auto;
        display: grid;
        gap: 0.75rem;
      }
      @media (max-width: 480px) {
        header {
          padding: 0.5rem;
        }
        main {
          padding: 0.5rem;
        }
      }
    `,
  ];

  constructor() {
    super();
    this.route = parseRoute();
    this.liveState = live.state;
    this.signInError = '';
    this.ready = false;
    const saved = localStorage.getItem(THEME_KEY);
    if (saved) document.documentElement.dataset.theme = saved;
    else if (matchMedia('(prefers-color-scheme: dark)').matches) document.documentElement.dataset.theme = 'dark';
  }

  override connectedCallback(): void {
    super.connectedCallback();
    window.addEventListener('hashchange', () => (this.route = parseRoute()));
    live.addEventListener('state', () => (this.liveState = live.state));
    access.addEventListener('change', () => this.requestUpdate());
    window.addEventListener('hive-unauthorized', () => {
      if (access.info?.auth) void this.start();
    });
    void this.start();
  }

  private async start(): Promise<void> {
    try {
      await access.refresh();
    } catch (error) {
      this.signInError = `Hive did not answer: ${(error as Error).message}`;
    }
    this.ready = true;
    if (access.info && access.can('tasks:read') && access.has('tasks')) tasks.start();
  }

  private async signIn(event: SubmitEvent): Promise<void> {
    event.preventDefault();
    const form = event.target as HTMLFormElement;
    const key = (new FormData(form).get('key') as string).trim();
    if (!key) return;
    session.signIn(key);
    await access.refresh().catch(() => undefined);
    if (access.needsSignIn) {
      session.signOut();
      this.signInError = 'That key was refused.';
      return;
    }
    // The WebSocket carries the key from its handshake: start over with it.
    location.reload();
  }

  private signOut(): void {
    session.signOut();
    location.reload();
  }

  private toggleTheme(): void {
    const next = document.documentElement.dataset.theme === 'dark' ? 'light' : 'dark';
    document.documentElement.dataset.theme = next;
    localStorage.setItem(THEME_KEY, next);
    this.requestUpdate();
  }

  override render(): TemplateResult {
    const dark = document.documentElement.dataset.theme === 'dark';
    const visible = SECTIONS.filter((s) => access.can(s.permission) && (!s.feature || access.has(s.feature)));
    return html`
      <header>
        <p class="brand"><img src="/dashboard/icon.svg" alt="" />Hive</p>
        <nav aria-label="Sections">
          <ul>
            ${visible.map(
              (s) =>
                html`<li>
                  <a href="#/${s.path}" aria-current=${this.route[0] === s.path ? 'page' : 'false'}>${s.label}</a>
                </li>`,
            )}
          </ul>
        </nav>
        <div class="tools">
          <span class="badge ${this.liveState === 'open' ? 'ok' : 'warn'}" role="status" data-live=${this.liveState}
            >${this.liveState === 'open' ? 'live' : this.liveState}</span
          >
          <button @click=${this.toggleTheme} aria-pressed=${dark ? 'true' : 'false'}>Dark theme</button>
          ${access.info?.auth
            ? html`<button @click=${this.signOut} title=${access.info.principal}>Sign out</button>`
            : ''}
        </div>
      </header>
      <main>${this.view()}</main>
    `;
  }

  private view(): TemplateResult {
    if (!this.ready) return html`<p class="muted">Connecting…</p>`;
    if (access.needsSignIn)
      return html`<form class="signin card" @submit=${this.signIn}>
        <h2>Sign in</h2>
        <p class="muted">This Hive checks API keys. The key stays in this tab's session storage.</p>
        <label>API key <input name="key" type="password" autocomplete="off" required /></label>
        <button class="primary" type="submit">Sign in</button>
        ${this.signInError ? html`<p class="outcome error" role="alert">${this.signInError}</p>` : ''}
      </form>`;
    if (!access.info) return html`<p class="outcome error" role="alert">${this.signInError}</p>`;
    if (access.info.auth && access.info.permissions.length === 0)
      return html`<p class="outcome error" role="alert">
        ${access.info.principal}'s role grants none of the dashboard's views. Sign out and use another key.
      </p>`;
    const [section, id] = this.route;
    switch (section) {
      case 'tasks':
        return id ? html`<hive-task-detail .taskId=${id}></hive-task-detail>` : html`<hive-tasks></hive-tasks>`;
      case 'agents':
        return html`<hive-agents></hive-agents>`;
      case 'plugins':
        return html`<hive-plugins></hive-plugins>`;
      case 'workflows':
        return html`<hive-workflows .runId=${id ?? ''}></hive-workflows>`;
      case 'messages':
        return html`<hive-messages></hive-messages>`;
      case 'alerts':
        return html`<hive-alerts></hive-alerts>`;
      case 'audit':
        return html`<hive-audit></hive-audit>`;
      default:
        return html`<hive-overview></hive-overview>`;
    }
  }
}

function parseRoute(): string[] {
  const path = location.hash.replace(/^#\/?/, '');
  return path ? path.split('/').map(decodeURIComponent) : ['overview'];
}

customElements.define('hive-app', HiveApp);
