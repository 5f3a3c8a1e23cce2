// Presentation helpers: exact JSON, token amounts, proportions, addresses and
// a tiny DOM builder. No framework: the page is small enough to build by hand.

// JSON.parse turns integers beyond 2^53 into the nearest double, and balances
// in base units (9 decimals) pass that at 9 million tokens. Integer literals
// of 16 digits or more, outside strings, are quoted first so they arrive as
// exact decimal strings; the formatters below accept numbers and strings.
export function parseJson(text) {
  let out = '';
  let last = 0;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 34) { // a string: skip it whole, escapes included
      i++;
      while (i < n && text.charCodeAt(i) !== 34) i += text.charCodeAt(i) === 92 ? 2 : 1;
      i++;
    } else if ((c >= 48 && c <= 57) || c === 45) { // a number
      const start = i;
      i++;
      while (i < n && /[0-9eE.+-]/.test(text[i])) i++;
      const literal = text.slice(start, i);
      if (/^-?\d{16,}$/.test(literal)) {
        out += text.slice(last, start) + '"' + literal + '"';
        last = i;
      }
    } else {
      i++;
    }
  }
  return JSON.parse(last === 0 ? text : out + text.slice(last));
}

const UNIT = 1_000_000_000n;

// A BigInt of a base-unit amount given as a number or a decimal string.
export function big(v) {
  if (typeof v === 'bigint') return v;
  if (v === null || v === undefined) return 0n;
  try { return BigInt(v); } catch { return 0n; }
}

function group(digits) {
  return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

// Base units as tokens rounded to at most `places` decimals (the exact value
// is in `exactTokens`).
export function tokens(v, places = 4) {
  const x = big(v);
  const neg = x < 0n;
  const exact = neg ? -x : x;
  const a = places < 9 ? exact + 5n * 10n ** BigInt(8 - places) : exact;
  const whole = a / UNIT;
  const frac = (a % UNIT).toString().padStart(9, '0').slice(0, places).replace(/0+$/, '');
  if (frac === '' && whole === 0n && exact !== 0n) return (neg ? '>-' : '<') + '0.' + '0'.repeat(places - 1) + '1';
  return (neg ? '-' : '') + group(whole.toString()) + (frac ? '.' + frac : '');
}

// Every decimal of a base-unit amount.
export function exactTokens(v) {
  const a = big(v);
  const neg = a < 0n;
  const x = neg ? -a : a;
  const frac = (x % UNIT).toString().padStart(9, '0').replace(/0+$/, '');
  return (neg ? '-' : '') + group((x / UNIT).toString()) + (frac ? '.' + frac : '');
}

// A u16 proportion (of 65535) as a fraction with four decimals.
export function u16(v) {
  return (Number(v) / 65535).toFixed(4);
}

// A share as a percentage.
export function percent(part, whole) {
  const p = big(part);
  const w = big(whole);
  if (w === 0n) return '0.00%';
  return (Number((p * 1_000_000n) / w) / 10_000).toFixed(2) + '%';
}

export function count(v) {
  return group(big(v).toString());
}

// plx1abcdef…uvwxyz: enough to tell keys apart at a glance.
export function short(address) {
  const s = String(address ?? '');
  return s.length > 18 ? s.slice(0, 10) + '…' + s.slice(-6) : s;
}

export function axon(a) {
  if (!a) return '';
  const host = String(a.ip).includes(':') ? `[${a.ip}]` : a.ip;
  return `${host}:${a.port}`;
}

// h('a', {href: '#/', class: 'x'}, 'text', child): an element. Attributes
// starting with "on" are listeners; false, null and undefined are skipped.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

// A link to an account page showing a shortened address.
export function accountLink(address) {
  return h('a', { href: `#/account/${address}`, class: 'mono', title: address }, short(address));
}

export function blockLink(height) {
  return h('a', { href: `#/block/${height}`, class: 'mono' }, '#' + count(height));
}

// A titled list of label/value pairs.
export function facts(pairs) {
  return h('dl', { class: 'facts' },
    pairs.map(([label, value, title]) => [
      h('dt', {}, label),
      h('dd', title ? { title } : {}, value),
    ]));
}

export function section(title, ...body) {
  return h('section', { class: 'card' }, h('h2', {}, title), ...body);
}
