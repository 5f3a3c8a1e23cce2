// Talking to the node: JSON-RPC through the explorer's read-only /rpc, and
// the live head from the node's WebSocket subscription (or, where the
// WebSocket cannot be reached, from polling /rpc).

import { parseJson, big } from './format.js';

export let config = { ws_url: null, history_epochs: 32, max_batch: 32 };

export async function loadConfig() {
  const r = await fetch('/config.json');
  if (!r.ok) throw new Error(`config.json: ${r.status}`);
  config = { ...config, ...parseJson(await r.text()) };
  return config;
}

export class RpcError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

// The node's "does not exist" error code.
export const NOT_FOUND = 2;

// JSON-RPC's code for parameters the node cannot read (an address that is not one).
export const INVALID_PARAMS = -32602;

let nextId = 1;

async function post(body) {
  const r = await fetch('/rpc', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!r.ok) throw new RpcError(r.status, `the explorer answered HTTP ${r.status}`);
  return parseJson(await r.text());
}

// One call; its result, or an RpcError.
export async function rpc(method, ...params) {
  const answer = await post({ jsonrpc: '2.0', id: nextId++, method, params });
  if (answer.error) throw new RpcError(answer.error.code, answer.error.message);
  return answer.result;
}

// Many calls ([method, ...params] each) in as few requests as the explorer
// allows; for each, {result} or {error}, in order.
export async function rpcBatch(calls) {
  const size = Math.max(1, config.max_batch ?? 32);
  const out = [];
  for (let i = 0; i < calls.length; i += size) {
    const chunk = calls.slice(i, i + size).map(([method, ...params]) =>
      ({ jsonrpc: '2.0', id: nextId++, method, params }));
    const answers = await post(chunk);
    const byId = new Map((Array.isArray(answers) ? answers : [answers]).map((a) => [a.id, a]));
    for (const call of chunk) {
      const a = byId.get(call.id) ?? { error: { code: -32603, message: 'no answer' } };
      out.push(a.error ? { error: new RpcError(a.error.code, a.error.message) } : { result: a.result });
    }
  }
  return out;
}

// The explorer's own samples of a subnet's recent epochs.
export async function history(netuid) {
  const r = await fetch(`/api/history/${netuid}`);
  if (!r.ok) throw new Error(`history: ${r.status}`);
  return parseJson(await r.text());
}

// Blocks lo..=hi (at most `max`, the newest), oldest first; missing ones skipped.
export async function blocks(lo, hi, max = 20) {
  const from = Math.max(lo, hi - max + 1, 0);
  const calls = [];
  for (let h = from; h <= hi; h++) calls.push(['plexus_block', h]);
  const answers = await rpcBatch(calls);
  return answers.filter((a) => a.result).map((a) => a.result);
}

// The chain head, live. Listeners get ('block', BlockInfo) for each newly
// finalized block, in order, ('status', ChainStatus) now and then, and
// ('mode', 'live' | 'polling' | 'connecting').
export class Live {
  constructor() {
    this.listeners = new Set();
    this.height = null;
    this.seen = false;
    this.status = null;
    this.mode = 'connecting';
    this.ws = null;
    this.backoff = 1000;
    this.pollTimer = null;
    this.catching = Promise.resolve();
  }

  on(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  emit(kind, data) {
    for (const fn of this.listeners) {
      try { fn(kind, data); } catch (e) { showError(e); }
    }
  }

  setMode(mode) {
    if (this.mode !== mode) {
      this.mode = mode;
      this.emit('mode', mode);
    }
  }

  async start() {
    await this.refreshStatus();
    setInterval(() => this.refreshStatus(), 10_000);
    this.connect();
  }

  async refreshStatus() {
    try {
      this.status = await rpc('plexus_status');
      if (this.height === null) this.height = this.status.finalized_height;
      this.emit('status', this.status);
    } catch (e) {
      this.emit('status-error', e);
    }
  }

  connect() {
    if (!config.ws_url) {
      this.startPolling();
      return;
    }
    let ws;
    try {
      ws = new WebSocket(config.ws_url);
    } catch {
      this.startPolling();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'plexus_subscribeFinalized', params: [] }));
      this.backoff = 1000;
      this.stopPolling();
      this.setMode('live');
    };
    ws.onmessage = (event) => {
      let msg;
      try { msg = parseJson(event.data); } catch { return; }
      const block = msg?.params?.result;
      if (msg.method && block?.header) this.accept(block);
      else if (msg.error) this.startPolling();
    };
    ws.onclose = () => {
      this.ws = null;
      this.startPolling();
      setTimeout(() => this.connect(), this.backoff);
      this.backoff = Math.min(this.backoff * 2, 30_000);
    };
  }

  // Takes a block, first fetching any the subscription skipped (a slow
  // subscriber is dropped behind rather than stalling the node).
  accept(block) {
    this.catching = this.catching.then(async () => {
      const h = block.header.height;
      if (this.seen && h <= this.height) return;
      if (this.seen && h > this.height + 1) {
        for (const missed of await blocks(this.height + 1, h - 1)) this.deliver(missed);
      }
      this.deliver(block);
    }).catch(showError);
  }

  deliver(block) {
    const h = block.header.height;
    if (this.seen && h <= this.height) return;
    this.seen = true;
    this.height = h;
    this.emit('block', block);
  }

  startPolling() {
    if (this.pollTimer) return;
    this.setMode('polling');
    this.pollTimer = setInterval(() => this.pollOnce(), 2000);
  }

  stopPolling() {
    clearInterval(this.pollTimer);
    this.pollTimer = null;
  }

  async pollOnce() {
    try {
      const status = await rpc('plexus_status');
      const top = status.finalized_height;
      if (this.height === null || top > this.height) {
        const from = this.seen ? this.height + 1 : top;
        for (const b of await blocks(from, top)) this.accept(b);
      }
    } catch (e) {
      this.emit('status-error', e);
    }
  }
}

// Errors go to a banner on the page, never to the console: the page is meant
// to run clean, and a person reads the banner.
export function showError(e) {
  const banner = document.getElementById('banner');
  if (!banner) return;
  banner.textContent = String(e?.message ?? e);
  banner.hidden = false;
}

export function clearError() {
  const banner = document.getElementById('banner');
  if (banner) banner.hidden = true;
}

// Whether a subnet keeps a moving price (chains on ledger rules 4 and later).
function movesPrice(subnet) {
  return subnet.moving_price !== undefined && subnet.moving_price !== null;
}

// What a subnet's share of each block's emission follows: its moving price on
// chains that keep one, else its pool price now. Only the ratio between subnets
// counts, so the two units never mix on one chain.
export function emissionWeight(subnet) {
  return big(movesPrice(subnet) ? subnet.moving_price : subnet.pool.price);
}

// How the split is made, for the page to say.
export function emissionRule(subnet) {
  return movesPrice(subnet)
    ? 'Each block\'s emission is split across subnets by moving price: the pool price capped at one token per alpha, averaged over weeks'
    : 'Each block\'s emission is split across subnets by pool price';
}
