// Styles shared by every view (adopted stylesheets: no inline style is needed,
// which the Content-Security-Policy forbids).
import { css } from 'lit';

export const shared = css`
  :host {
    display: block;
  }
  h2 {
    font-size: 1.15rem;
    margin: 0 0 0.75rem;
  }
  h3 {
    font-size: 1rem;
    margin: 1rem 0 0.5rem;
  }
  .cards {
    display: grid;
    grid-template-columns: repeat(auto-fit, minmax(15rem, 1fr));
    gap: 0.75rem;
  }
  .card {
    background: var(--surface);
    border: 1px solid var(--border);
    border-radius: 8px;
    padding: 0.75rem 1rem;
    min-width: 0;
  }
  table {
    width: 100%;
    border-collapse: collapse;
    font-size: 0.9rem;
  }
  th,
  td {
    text-align: left;
    padding: 0.4rem 0.5rem;
    border-bottom: 1px solid var(--border);
    vertical-align: top;
  }
  th {
    font-weight: 600;
    color: var(--muted);
  }
  .scroll-x {
    overflow-x: auto;
  }
  button,
  select,
  input,
  textarea {
    font: inherit;
    color: var(--text);
    background: var(--surface);
    border: 1px solid var(--border-strong);
    border-radius: 6px;
    padding: 0.35rem 0.6rem;
  }
  button {
    cursor: pointer;
    background: var(--button);
  }
  button:hover {
    background: var(--button-hover);
  }
  button.primary {
    background: var(--accent);
    color: var(--on-accent);
    border-color: var(--accent);
  }
  button:disabled {
    opacity: 0.6;
    cursor: default;
  }
  :focus-visible {
    outline: 3px solid var(--focus);
    outline-offset: 2px;
  }
  a {
    color: var(--link);
  }
  .badge {
    display: inline-block;
    padding: 0.05rem 0.5rem;
    border-radius: 999px;
    font-size: 0.8rem;
    font-weight: 600;
    background: var(--badge);
    color: var(--badge-text);
    white-space: nowrap;
  }
  .badge.ok {
    background: var(--ok-bg);
    color: var(--ok-text);
  }
  .badge.bad {
    background: var(--bad-bg);
    color: var(--bad-text);
  }
  .badge.busy {
    background: var(--busy-bg);
    color: var(--busy-text);
  }
  .badge.warn {
    background: var(--warn-bg);
    color: var(--warn-text);
  }
  .muted {
    color: var(--muted);
  }
  .outcome {
    margin: 0.5rem 0;
    padding: 0.5rem 0.75rem;
    border-radius: 6px;
    background: var(--surface);
    border-left: 4px solid var(--ok-text);
  }
  .outcome.error {
    border-left-color: var(--bad-text);
  }
  pre {
    background: var(--code);
    padding: 0.5rem;
    border-radius: 6px;
    overflow: auto;
    max-height: 20rem;
    font-size: 0.85rem;
    margin: 0;
  }
  ul.row {
    list-style: none;
    margin: 0;
    padding: 0;
  }
  .row {
    display: flex;
    flex-wrap: wrap;
    gap: 0.5rem;
    align-items: center;
  }
  label {
    display: inline-flex;
    flex-direction: column;
    gap: 0.2rem;
    font-size: 0.85rem;
  }
  .visually-hidden {
    position: absolute;
    width: 1px;
    height: 1px;
    overflow: hidden;
    clip: rect(0 0 0 0);
    white-space: nowrap;
  }
`;

// The badge class of a task, agent, step or run status.
export function tone(status: string): string {
  switch (status) {
    case 'succeeded':
    case 'idle':
    case 'connected':
    case 'ready':
    case 'started':
    case 'resolved':
    case 'swapped':
      return 'ok';
    case 'failed':
    case 'dead':
    case 'error':
    case 'firing':
    case 'disconnected':
    case 'open':
      return 'bad';
    case 'running':
    case 'assigned':
    case 'busy':
      return 'busy';
    case 'draining':
    case 'waiting':
    case 'paused':
    case 'cancelled':
    case 'pending':
      return 'warn';
    default:
      return '';
  }
}

export function ago(ms: number | undefined): string {
  if (!ms) return '';
  const seconds = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (seconds < 60) return `${seconds}s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h ago`;
  return `${Math.floor(seconds / 86400)}d ago`;
}

export function pretty(value: unknown): string {
  if (value === undefined || value === null) return '—';
  return typeof value === 'string' ? value : JSON.stringify(value, null, 2);
}
