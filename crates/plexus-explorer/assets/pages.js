// The overview, the subnet list, blocks, transactions and accounts.

import { rpc, rpcBatch, blocks, RpcError, INVALID_PARAMS, showError, clearError, emissionWeight, emissionRule } from './chain.js';
import { h, tokens, exactTokens, count, short, percent, u16, axon, accountLink, blockLink, facts, section, big } from './format.js';
import { Table } from './table.js';

const RECENT_BLOCKS = 15;
const RECENT_TXS = 25;
const TX_LOOKBACK = 128;

// {"Transfer": {...}} -> "Transfer", plus the fields worth a glance.
export function callSummary(call) {
  const kind = typeof call === 'string' ? call : Object.keys(call)[0];
  const f = typeof call === 'string' ? {} : call[kind] ?? {};
  const parts = [];
  if (f.netuid !== undefined) parts.push(`subnet ${f.netuid}`);
  if (f.to) parts.push(`to ${short(f.to)}`);
  if (f.amount !== undefined) parts.push(`${tokens(f.amount)} τ`);
  if (f.alpha !== undefined) parts.push(`${tokens(f.alpha)} α`);
  if (f.hotkey) parts.push(`hotkey ${short(f.hotkey)}`);
  if (f.uids) parts.push(`${f.uids.length} weights`);
  if (f.param) parts.push(Object.entries(f.param).map(([k, v]) => `${k} = ${v}`).join(''));
  if (f.axon) parts.push(axon(f.axon));
  return parts.length ? `${kind} (${parts.join(', ')})` : kind;
}

export function outcome(tx) {
  if (tx.error === null || tx.error === undefined) return h('span', { class: 'ok' }, 'applied');
  // Chains under the original ledger rules carry failed calls that paid nothing.
  const said = tx.fee_paid ? `failed, fee paid: ${tx.error}` : `refused: ${tx.error}`;
  return h('span', { class: 'bad', title: tx.error }, said);
}

function subnetColumns() {
  return [
    { key: 'netuid', label: 'Subnet', numeric: true, render: (s) => h('a', { href: `#/subnet/${s.netuid}` }, `SN${s.netuid}`) },
    { key: 'work', label: 'Work', value: (s) => s.work || '', render: (s) => s.work || '—' },
    { key: 'owner', label: 'Owner', render: (s) => accountLink(s.owner) },
    { key: 'neurons', label: 'UIDs', numeric: true, render: (s) => `${s.neurons} / ${s.max_neurons}` },
    { key: 'tempo', label: 'Tempo', numeric: true },
    { key: 'price', label: 'Price τ/α', numeric: true, value: (s) => big(s.pool.price), render: (s) => tokens(s.pool.price, 6) },
    { key: 'share', label: 'Emission share', numeric: true, value: emissionWeight, render: (s) => h('span', { title: emissionRule(s) }, s.share) },
    { key: 'tao', label: 'Token reserve', numeric: true, value: (s) => big(s.pool.tao), render: (s) => h('span', { title: exactTokens(s.pool.tao) }, tokens(s.pool.tao, 2)) },
    { key: 'alpha', label: 'Alpha reserve', numeric: true, value: (s) => big(s.pool.alpha), render: (s) => h('span', { title: exactTokens(s.pool.alpha) }, tokens(s.pool.alpha, 2)) },
    { key: 'epoch_index', label: 'Epochs', numeric: true },
  ];
}

function withShares(subnets) {
  const total = subnets.reduce((sum, s) => sum + emissionWeight(s), 0n);
  return subnets.map((s) => ({ ...s, share: percent(emissionWeight(s), total) }));
}

function subnetTable(pageSize) {
  return new Table({
    columns: subnetColumns(), rowKey: (s) => s.netuid, sort: 'netuid', pageSize, name: 'subnets',
    filter: (s, q) => String(s.netuid) === q || s.owner.includes(q), empty: 'No subnet yet.',
  });
}

export function subnetsPage(main, live) {
  const table = subnetTable(50);
  main.replaceChildren(h('h1', {}, 'Subnets'), section('Every subnet', table.el));
  let last = 0;
  const load = () => {
    last = Date.now();
    return rpc('plexus_subnets').then((s) => { table.setRows(withShares(s)); clearError(); }).catch(showError);
  };
  load();
  return live.on((kind) => { if (kind === 'block' && Date.now() - last > 5000) load(); });
}

function blockRow(b) {
  return {
    height: b.header.height, hash: b.hash, proposer: b.header.proposer, txs: b.transactions.length,
    failed: b.transactions.filter((t) => t.error !== null).length, epochs: b.epochs, emission: b.emission,
  };
}

export function overviewPage(main, live) {
  const chain = h('div', {});
  const validators = h('div', {});
  const subnets = subnetTable(16);
  const blockTable = new Table({
    name: 'blocks', rowKey: (b) => b.height, sort: 'height', desc: true, pageSize: RECENT_BLOCKS, empty: 'Waiting for blocks…',
    columns: [
      { key: 'height', label: 'Block', numeric: true, render: (b) => blockLink(b.height) },
      { key: 'hash', label: 'Hash', render: (b) => h('span', { class: 'mono', title: b.hash }, short(b.hash)) },
      { key: 'proposer', label: 'Proposer', render: (b) => accountLink(b.proposer) },
      { key: 'txs', label: 'Txs', numeric: true, render: (b) => (b.failed ? `${b.txs} (${b.failed} failed)` : String(b.txs)) },
      { key: 'epochs', label: 'Epochs', value: (b) => b.epochs.length, render: (b) => b.epochs.map((n) => h('a', { href: `#/subnet/${n}`, class: 'tag' }, `SN${n}`)) },
      { key: 'emission', label: 'Emission τ', numeric: true, value: (b) => big(b.emission), render: (b) => tokens(b.emission) },
    ],
  });
  const txTable = new Table({
    name: 'transactions', rowKey: (t) => t.hash, sort: 'height', desc: true, pageSize: RECENT_TXS,
    empty: `No transaction in the blocks seen so far.`,
    columns: [
      { key: 'hash', label: 'Transaction', render: (t) => h('a', { href: `#/tx/${t.hash}`, class: 'mono', title: t.hash }, short(t.hash)) },
      { key: 'height', label: 'Block', numeric: true, render: (t) => blockLink(t.height) },
      { key: 'signer', label: 'Signer', render: (t) => accountLink(t.signer) },
      { key: 'call', label: 'Call', value: (t) => callSummary(t.call), render: (t) => callSummary(t.call) },
      { key: 'outcome', label: 'Outcome', value: (t) => t.error ?? '', render: outcome },
    ],
  });
  main.replaceChildren(
    h('div', { class: 'grid2' }, section('Chain', chain), section('Chain validators', validators)),
    section('Subnets', subnets.el, h('p', {}, h('a', { href: '#/subnets' }, 'All subnets →'))),
    section('Recent blocks', blockTable.el),
    section('Recent transactions', txTable.el));

  let recent = [];
  let txs = [];
  let status = null;
  const addBlocks = (list) => {
    for (const b of list) {
      if (recent.some((r) => r.height === b.header.height)) continue;
      recent.push(blockRow(b));
      txs.push(...b.transactions.map((t) => ({ ...t, height: b.header.height })));
    }
    recent = recent.sort((a, b) => b.height - a.height).slice(0, RECENT_BLOCKS);
    txs = txs.sort((a, b) => b.height - a.height).slice(0, RECENT_TXS);
    blockTable.setRows(recent);
    txTable.setRows(txs);
  };
  const showStatus = (s) => {
    status = s;
    chain.replaceChildren(facts([
      ['Chain id', s.chain_id],
      ['Height', count(s.height)],
      ['Finalized', blockLink(s.finalized_height)],
      ['State root', h('span', { class: 'mono', title: s.state_root }, short(s.state_root))],
      ['Peers', count(s.peers)],
      ['Mempool', `${count(s.mempool)} transactions`],
      ['Least fee', `${tokens(s.min_fee, 9)} τ`],
    ]));
    validators.replaceChildren(h('ol', { class: 'keys' }, s.validators.map((v) => h('li', {}, accountLink(v)))));
  };
  let lastSubnets = 0;
  const loadSubnets = () => {
    lastSubnets = Date.now();
    return rpc('plexus_subnets').then((s) => subnets.setRows(withShares(s)));
  };
  (async () => {
    const now = live.status ?? await rpc('plexus_status');
    showStatus(now);
    await loadSubnets();
    // Most blocks of a quiet chain are empty: look further back for
    // transactions than for blocks.
    addBlocks(await blocks(0, now.finalized_height, TX_LOOKBACK));
    clearError();
  })().catch(showError);
  return live.on((kind, data) => {
    if (kind === 'status') showStatus(data);
    if (kind !== 'block') return;
    const h = data.header.height;
    if (status && h > status.finalized_height) {
      showStatus({ ...status, height: h, finalized_height: h, state_root: data.header.state_root });
    }
    addBlocks([data]);
    if (data.epochs.length || Date.now() - lastSubnets > 5000) loadSubnets().catch(showError);
  });
}

export function blockPage(main, height) {
  main.replaceChildren(h('h1', {}, `Block #${count(height)}`), h('p', { class: 'muted' }, 'Loading…'));
  rpc('plexus_block', height).then((b) => {
    const txs = new Table({
      name: 'block-transactions', rowKey: (t) => t.hash, sort: 'index', pageSize: 50, empty: 'No transactions in this block.',
      columns: [
        { key: 'index', label: '#', numeric: true },
        { key: 'hash', label: 'Hash', render: (t) => h('a', { href: `#/tx/${t.hash}`, class: 'mono', title: t.hash }, short(t.hash)) },
        { key: 'signer', label: 'Signer', render: (t) => accountLink(t.signer) },
        { key: 'nonce', label: 'Nonce', numeric: true },
        { key: 'call', label: 'Call', value: (t) => callSummary(t.call), render: (t) => h('details', {}, h('summary', {}, callSummary(t.call)), h('pre', {}, JSON.stringify(t.call, null, 2))) },
        { key: 'outcome', label: 'Outcome', value: (t) => t.error ?? '', render: outcome },
      ],
    });
    txs.setRows(b.transactions.map((t, index) => ({ ...t, index })));
    const hd = b.header;
    main.replaceChildren(
      h('h1', {}, `Block #${count(hd.height)}`),
      h('p', { class: 'nav' }, hd.height > 0 ? h('a', { href: `#/block/${hd.height - 1}` }, '← previous') : '', ' ', h('a', { href: `#/block/${hd.height + 1}` }, 'next →')),
      section('Header', facts([
        ['Hash', h('span', { class: 'mono' }, b.hash)],
        ['Parent', h('span', { class: 'mono' }, hd.parent)],
        ['State root', h('span', { class: 'mono' }, hd.state_root)],
        ['Transactions root', h('span', { class: 'mono' }, hd.transactions_root)],
        ['Proposer', accountLink(hd.proposer)],
        ['View', count(hd.view)],
        ['Emission', `${tokens(b.emission, 9)} τ`],
        ['Epochs', b.epochs.length ? b.epochs.map((n) => h('a', { href: `#/subnet/${n}`, class: 'tag' }, `SN${n}`)) : 'none'],
      ])),
      section('Transactions', txs.el));
    clearError();
  }).catch((e) => main.replaceChildren(h('h1', {}, `Block #${count(height)}`), h('p', { class: 'muted' }, e.message)));
}

export function txPage(main, hash) {
  main.replaceChildren(h('h1', {}, 'Transaction'), h('p', { class: 'mono' }, hash));
  (async () => {
    const st = await rpc('plexus_transactionStatus', hash);
    if (st.status !== 'included') {
      const said = st.status === 'pending' ? 'Pending in the node\'s mempool.'
        : st.status === 'refused' ? `Left out of a block by this node: ${st.reason}`
        : 'Not known to this node.';
      main.append(section('Status', h('p', {}, said)));
      return;
    }
    const b = await rpc('plexus_block', st.height);
    const tx = b.transactions[st.index];
    main.append(section('Status', facts([
      ['Block', blockLink(st.height)],
      ['Index', String(st.index)],
      ['Outcome', outcome(tx)],
      ['Signer', accountLink(tx.signer)],
      ['Nonce', count(tx.nonce)],
      ['Call', callSummary(tx.call)],
    ]), h('pre', {}, JSON.stringify(tx.call, null, 2))));
  })().catch((e) => main.append(h('p', { class: 'muted' }, e.message)));
}

export function accountPage(main, address) {
  const balance = h('div', {}, 'Loading…');
  const stakes = new Table({
    name: 'stakes', rowKey: (s) => `${s.netuid}/${s.hotkey}`, sort: 'netuid', pageSize: 50, empty: 'No stake.',
    columns: [
      { key: 'netuid', label: 'Subnet', numeric: true, render: (s) => h('a', { href: `#/subnet/${s.netuid}` }, `SN${s.netuid}`) },
      { key: 'hotkey', label: 'Hotkey', render: (s) => accountLink(s.hotkey) },
      { key: 'alpha', label: 'Alpha', numeric: true, value: (s) => big(s.alpha), render: (s) => h('span', { title: exactTokens(s.alpha) }, tokens(s.alpha)) },
      { key: 'value', label: 'Worth τ', numeric: true, value: (s) => big(s.value), render: (s) => tokens(s.value) },
    ],
  });
  const hotkeys = new Table({
    name: 'hotkeys', rowKey: (n) => `${n.netuid}/${n.uid}`, sort: 'netuid', pageSize: 50, empty: 'Registered on no subnet.',
    columns: [
      { key: 'netuid', label: 'Subnet', numeric: true, render: (n) => h('a', { href: `#/subnet/${n.netuid}` }, `SN${n.netuid}`) },
      { key: 'uid', label: 'UID', numeric: true },
      { key: 'hotkey', label: 'Hotkey', render: (n) => accountLink(n.hotkey) },
      { key: 'coldkey', label: 'Coldkey', render: (n) => accountLink(n.coldkey) },
      { key: 'stake', label: 'Stake α', numeric: true, value: (n) => big(n.stake), render: (n) => tokens(n.stake, 2) },
      { key: 'incentive', label: 'Incentive', numeric: true, render: (n) => u16(n.incentive) },
      { key: 'dividends', label: 'Dividends', numeric: true, render: (n) => u16(n.dividends) },
      { key: 'emission', label: 'Emission α', numeric: true, value: (n) => big(n.emission), render: (n) => tokens(n.emission) },
      { key: 'axon', label: 'Axon', value: (n) => axon(n.axon), render: (n) => axon(n.axon) },
    ],
  });
  const scan = h('p', { class: 'muted' }, 'Looking through every subnet…');
  main.replaceChildren(
    h('h1', {}, 'Account'), h('p', { class: 'mono' }, address),
    section('Balance', balance), section('Stake', stakes.el),
    section('Hotkeys', h('p', { class: 'muted' }, 'UIDs whose hotkey or coldkey is this account.'), scan, hotkeys.el));
  (async () => {
    const [acct, st, subnets] = await rpcBatch([['plexus_account', address], ['plexus_stakes', address], ['plexus_subnets']]);
    if (acct.error) throw acct.error;
    balance.replaceChildren(facts([
      ['Free balance', `${tokens(acct.result.balance, 9)} τ`, exactTokens(acct.result.balance)],
      ['Next nonce', count(acct.result.nonce)],
    ]));
    stakes.setRows(st.result ?? []);
    // No RPC lists a key's UIDs, so every metagraph is read, in batches.
    const ids = (subnets.result ?? []).map((s) => s.netuid);
    const found = [];
    const graphs = await rpcBatch(ids.map((n) => ['plexus_metagraph', n]));
    graphs.forEach((g, i) => {
      for (const n of g.result ?? []) {
        if (n.hotkey === address || n.coldkey === address) found.push({ ...n, netuid: ids[i] });
      }
    });
    hotkeys.setRows(found);
    scan.textContent = `${count(ids.length)} subnets read.`;
    clearError();
  })().catch((e) => {
    // The node reads the address as a parameter: one it cannot read is refused as such.
    const text = e?.code === INVALID_PARAMS
      ? `${address} is not a Plexus address: one is plx1… with its checksum, as a wallet shows it.`
      : (e instanceof RpcError ? e.message : String(e?.message ?? e));
    balance.replaceChildren(h('p', { class: 'muted', 'data-error': 'account' }, text));
    scan.textContent = '';
  });
}
