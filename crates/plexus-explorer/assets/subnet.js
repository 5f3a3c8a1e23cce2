// One subnet: its owner, pool and tempo, its hyperparameters, charts of
// incentive and emission per UID over recent epochs, and its metagraph.

import { rpcBatch, history, NOT_FOUND, showError, clearError, emissionWeight, emissionRule } from './chain.js';
import { lineChart, readable } from './chart.js';
import { h, tokens, exactTokens, u16, percent, count, axon, accountLink, blockLink, facts, section, big } from './format.js';
import { Table } from './table.js';

// Lines per chart: more than this is a tangle; the rest are in the table.
const TOP_UIDS = 8;

export function metagraphColumns() {
  return [
    { key: 'uid', label: 'UID', numeric: true, render: (n) => String(n.uid) },
    { key: 'hotkey', label: 'Hotkey', render: (n) => accountLink(n.hotkey) },
    { key: 'stake', label: 'Stake', numeric: true, value: (n) => big(n.stake), render: (n) => h('span', { title: exactTokens(n.stake) }, tokens(n.stake, 2)), title: 'Alpha staked on the hotkey in this subnet' },
    { key: 'consensus', label: 'Consensus', numeric: true, render: (n) => u16(n.consensus) },
    { key: 'trust', label: 'Trust', numeric: true, render: (n) => u16(n.trust) },
    { key: 'incentive', label: 'Incentive', numeric: true, render: (n) => u16(n.incentive), title: "The miner's share of the miners' emission" },
    { key: 'dividends', label: 'Dividends', numeric: true, render: (n) => u16(n.dividends), title: "The validator's share of the validators' emission" },
    { key: 'emission', label: 'Emission', numeric: true, value: (n) => big(n.emission), render: (n) => h('span', { title: exactTokens(n.emission) }, tokens(n.emission)), title: 'Alpha earned at the last epoch' },
    { key: 'validator_permit', label: 'Permit', value: (n) => n.validator_permit, render: (n) => (n.validator_permit ? 'yes' : 'no'), title: 'Holds a validator permit' },
    { key: 'active', label: 'Active', value: (n) => n.active, render: (n) => (n.active ? 'yes' : 'no') },
    { key: 'axon', label: 'Axon', value: (n) => axon(n.axon), render: (n) => axon(n.axon), title: 'Where a miner serves' },
  ];
}

function matches(n, q) {
  const s = q.toLowerCase();
  return String(n.uid) === s || n.hotkey.includes(s) || n.coldkey.includes(s) || axon(n.axon).includes(s);
}

function charts(samples) {
  if (!samples.length) {
    return h('p', { class: 'muted', dataset: { chart: 'none' } },
      'No epoch sampled yet: the explorer samples each epoch of this subnet from the moment it starts.');
  }
  const last = samples[samples.length - 1];
  const xs = samples.map((s) => s.epoch);
  // Charted in the units people read: fractions of 1, and whole alpha.
  const scale = { incentive: 65535, emission: 1e9 };
  // Each chart follows the UIDs that lead it at the last epoch (miners for
  // incentive, validators too for emission); ties go to the lower UID.
  const chart = (field, title) => {
    const uids = last[field].map((v, uid) => [uid, Number(v)])
      .sort((a, b) => b[1] - a[1] || a[0] - b[0])
      .slice(0, TOP_UIDS)
      .map((t) => t[0]);
    const series = uids.map((uid) => ({
      label: `UID ${uid}`,
      values: samples.map((s) => (uid < s[field].length ? Number(s[field][uid]) / scale[field] : null)),
    }));
    const shown = uids.length < last[field].length ? ` (the ${uids.length} highest at the last epoch)` : '';
    return lineChart({ title: title + shown, xs, series, format: readable, name: field });
  };
  return h('div', { class: 'charts' }, chart('incentive', 'Incentive per UID'), chart('emission', 'Emission per UID, alpha'));
}

function summary(subnet, all) {
  const total = all.reduce((sum, s) => sum + emissionWeight(s), 0n);
  return h('div', { class: 'grid2' },
    section('Subnet', facts([
      ['Work', subnet.work || 'not recorded', 'The kind of AI work its market trades, as its owner recorded it'],
      ['Owner', accountLink(subnet.owner)],
      ['Owner hotkey', accountLink(subnet.owner_hotkey)],
      ['UIDs', `${count(subnet.neurons)} of ${count(subnet.max_neurons)}`],
      ['Tempo', `${count(subnet.tempo)} blocks`],
      ['Epochs run', count(subnet.epoch_index)],
      ['Last epoch', blockLink(subnet.last_epoch_block)],
      ['Next epoch', `block ${count(subnet.last_epoch_block + subnet.tempo)}`],
      ['Pending emission', tokens(subnet.pending_emission) + ' α', exactTokens(subnet.pending_emission)],
      ['Registration', tokens(subnet.registration_price) + ' τ'],
      ['Locked', tokens(subnet.locked) + ' τ'],
      ['Created at', blockLink(subnet.created_at)],
    ])),
    section('Pool', facts([
      ['Token reserve', tokens(subnet.pool.tao) + ' τ', exactTokens(subnet.pool.tao)],
      ['Alpha reserve', tokens(subnet.pool.alpha) + ' α', exactTokens(subnet.pool.alpha)],
      ['Price', tokens(subnet.pool.price, 6) + ' τ/α', exactTokens(subnet.pool.price)],
      ['Emission share', percent(emissionWeight(subnet), total), emissionRule(subnet)],
    ])));
}

function hyperparameters(params) {
  const rows = Object.entries(params).map(([k, v]) => [k.replaceAll('_', ' '), typeof v === 'object' ? JSON.stringify(v) : String(v)]);
  return h('details', { class: 'card' }, h('summary', {}, 'Hyperparameters'), facts(rows));
}

export function subnetPage(main, netuid, live) {
  const table = new Table({
    columns: metagraphColumns(),
    rowKey: (n) => n.uid,
    sort: 'uid',
    pageSize: 64,
    filter: matches,
    name: 'metagraph',
    empty: 'No UID registered yet.',
  });
  const top = h('div', {});
  const chartBox = h('div', {});
  const params = h('div', {});
  main.replaceChildren(
    h('h1', {}, `Subnet ${netuid}`),
    top,
    section('Incentive and emission over recent epochs', chartBox),
    section('Metagraph', table.el),
    params);

  let loaded = false;
  let last = 0;
  async function load() {
    last = Date.now();
    const [all, one, hyper, graph] = await rpcBatch([
      ['plexus_subnets'], ['plexus_subnet', netuid], ['plexus_hyperparameters', netuid], ['plexus_metagraph', netuid]]);
    if (one.error) {
      if (one.error.code === NOT_FOUND) {
        main.replaceChildren(h('h1', {}, `Subnet ${netuid}`), h('p', { class: 'muted' }, one.error.message));
        return;
      }
      throw one.error;
    }
    top.replaceChildren(summary(one.result, all.result ?? [one.result]));
    if (hyper.result && !loaded) params.replaceChildren(hyperparameters(hyper.result));
    if (graph.result) table.setRows(graph.result);
    const hist = await history(netuid);
    chartBox.replaceChildren(charts(hist.epochs));
    loaded = true;
    clearError();
  }
  load().catch(showError);
  return live.on((kind, block) => {
    if (kind !== 'block') return;
    // At an epoch everything moves; between them stake and registrations do,
    // so a refresh every few seconds is enough. The explorer samples the
    // epoch a moment after it, so the charts are asked again shortly.
    if (block.epochs.includes(netuid)) {
      load().catch(showError);
      setTimeout(() => load().catch(showError), 3000);
    } else if (Date.now() - last > 5000) {
      load().catch(showError);
    }
  });
}
