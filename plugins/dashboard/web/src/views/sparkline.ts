// A small SVG line of the last values (one per second), with a text
// alternative for screen readers.
import { LitElement, css, html, svg } from 'lit';

export class Sparkline extends LitElement {
  static override properties = { values: { attribute: false }, label: {}, unit: {}, skipZeros: { type: Boolean } };
  declare values: number[];
  // A mean where a second without a sample is no sample (a run time), not a 0.
  declare skipZeros: boolean;
  declare label: string;
  declare unit: string;

  static override styles = css`
    svg {
      width: 100%;
      height: 3rem;
      display: block;
    }
    polyline {
      fill: none;
      stroke: var(--chart);
      stroke-width: 2;
      vector-effect: non-scaling-stroke;
    }
    .now {
      font-size: 1.4rem;
      font-weight: 700;
    }
  `;

  constructor() {
    super();
    this.values = [];
    this.label = '';
    this.unit = '';
    this.skipZeros = false;
  }

  override render() {
    const values = this.values;
    const max = Math.max(1, ...values);
    const points = values.map((v, i) => `${(i / Math.max(1, values.length - 1)) * 100},${30 - (v / max) * 28}`).join(' ');
    const recent = values.slice(-5).filter((v) => !this.skipZeros || v > 0);
    const now = recent.length ? recent.reduce((a, b) => a + b, 0) / recent.length : 0;
    return html`<div>
      <div class="now">${now.toFixed(now < 10 ? 1 : 0)} <span class="unit">${this.unit}</span></div>
      <svg viewBox="0 0 100 30" preserveAspectRatio="none" role="img" aria-label="${this.label}: last 60 seconds, peak ${max.toFixed(0)} ${this.unit}">
        ${svg`<polyline points=${points}></polyline>`}
      </svg>
    </div>`;
  }
}
customElements.define('hive-sparkline', Sparkline);
