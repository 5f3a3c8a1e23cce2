// Line charts drawn as SVG by hand: one line per series over the x values,
// a point per value with its exact figure as a tooltip.

import { h } from './format.js';

const NS = 'http://www.w3.org/2000/svg';
export const PALETTE = 10;

// A number with as many decimals as its size needs to show two digits.
export function readable(v) {
  const digits = v === 0 || Math.abs(v) >= 10 ? 0 : Math.min(9, 1 - Math.floor(Math.log10(Math.abs(v))));
  return v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

function s(tag, attrs, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs ?? {})) el.setAttribute(k, String(v));
  for (const c of children) el.append(c instanceof Node ? c : String(c));
  return el;
}

// Round numbers for the axis: 1, 2 or 5 times a power of ten.
function niceStep(max, ticks) {
  const raw = max / ticks;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

// xs: the x labels (epochs); series: [{label, values}] with one value per x
// (null where there is none); format(v): a value for people; name: a test hook.
export function lineChart({ title, xs, series, format, xLabel = 'epoch', name = '' }) {
  const W = 600;
  const H = 230;
  const m = { l: 64, r: 14, t: 12, b: 34 };
  const w = W - m.l - m.r;
  const ht = H - m.t - m.b;
  const all = series.flatMap((x) => x.values).filter((v) => v !== null && Number.isFinite(v));
  const top = Math.max(...all, 0);
  const step = top > 0 ? niceStep(top, 4) : 1;
  const yMax = top > 0 ? Math.ceil(top / step) * step : 1;
  const x = (i) => m.l + (xs.length <= 1 ? w / 2 : (i * w) / (xs.length - 1));
  const y = (v) => m.t + ht - (v / yMax) * ht;

  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': title });
  for (let v = 0; v <= yMax + step / 2; v += step) {
    svg.append(s('line', { x1: m.l, x2: W - m.r, y1: y(v), y2: y(v), class: 'grid' }));
    svg.append(s('text', { x: m.l - 6, y: y(v) + 4, class: 'tick', 'text-anchor': 'end' }, format(v)));
  }
  const every = Math.max(1, Math.ceil(xs.length / 10));
  xs.forEach((label, i) => {
    if (i % every !== 0 && i !== xs.length - 1) return;
    svg.append(s('text', { x: x(i), y: H - m.b + 16, class: 'tick', 'text-anchor': 'middle' }, label));
  });
  svg.append(s('text', { x: m.l + w / 2, y: H - 4, class: 'axis', 'text-anchor': 'middle' }, xLabel));

  series.forEach((ser, k) => {
    const cls = `c${k % PALETTE}`;
    const pts = ser.values.map((v, i) => (v === null ? null : [x(i), y(v)])).filter(Boolean);
    if (pts.length > 1) {
      svg.append(s('polyline', { points: pts.map((p) => p.join(',')).join(' '), class: `line ${cls}` }));
    }
    ser.values.forEach((v, i) => {
      if (v === null) return;
      svg.append(s('circle', { cx: x(i), cy: y(v), r: 3, class: `dot ${cls}` },
        s('title', {}, `${ser.label}, ${xLabel} ${xs[i]}: ${format(v)}`)));
    });
  });

  const legend = h('ul', { class: 'legend' }, series.map((ser, k) =>
    h('li', {}, h('span', { class: `swatch c${k % PALETTE}` }), ser.label)));
  return h('figure', { class: 'chart-box', dataset: { chart: name } }, h('figcaption', {}, title), svg, legend);
}
