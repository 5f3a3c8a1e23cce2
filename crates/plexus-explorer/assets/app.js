// The page's entry: the live head in the header, the search box, and a
// router over the URL's fragment (#/, #/subnets, #/subnet/1, #/block/12,
// #/tx/HASH, #/account/plx1…), so every view has a link of its own.

import { loadConfig, Live, showError, clearError } from './chain.js';
import { count } from './format.js';
import { overviewPage, subnetsPage, blockPage, txPage, accountPage } from './pages.js';
import { subnetPage } from './subnet.js';

const live = new Live();
let leave = null;

function route() {
  if (leave) leave();
  leave = null;
  clearError();
  const main = document.getElementById('main');
  const path = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  const [page, arg] = path;
  const number = /^\d+$/.test(arg ?? '') ? Number(arg) : null;
  window.scrollTo(0, 0);
  for (const a of document.querySelectorAll('header nav a')) {
    a.classList.toggle('here', a.getAttribute('href') === `#/${page ?? ''}`);
  }
  if (!page) leave = overviewPage(main, live);
  else if (page === 'subnets') leave = subnetsPage(main, live);
  else if (page === 'subnet' && number !== null && number < 65536) leave = subnetPage(main, number, live);
  else if (page === 'block' && number !== null) blockPage(main, number);
  else if (page === 'tx' && arg) txPage(main, arg);
  else if (page === 'account' && arg) accountPage(main, arg);
  else main.textContent = 'No such page.';
  document.title = `${page ? `${page} ${arg ?? ''} · ` : ''}Plexus explorer`;
}

function search(event) {
  event.preventDefault();
  const input = document.getElementById('search-input');
  const q = input.value.trim();
  const sn = /^(?:sn|subnet)\s*(\d+)$/i.exec(q);
  if (/^\d+$/.test(q)) location.hash = `#/block/${q}`;
  else if (sn) location.hash = `#/subnet/${sn[1]}`;
  else if (/^plx1[02-9ac-hj-np-z]+$/.test(q)) location.hash = `#/account/${q}`;
  else if (/^(0x)?[0-9a-fA-F]{64}$/.test(q)) location.hash = `#/tx/${q.replace(/^0x/, '').toLowerCase()}`;
  else {
    showError(`"${q}" is not a block height, a subnet (sn 1), a transaction hash or a plx1… address.`);
    return;
  }
  input.value = '';
}

function showHead(kind, data) {
  if (kind === 'block') {
    const h = count(data.header.height);
    document.getElementById('head-height').textContent = h;
    document.getElementById('head-finalized').textContent = h;
  } else if (kind === 'status') {
    document.getElementById('head-height').textContent = count(data.height);
    document.getElementById('head-finalized').textContent = count(data.finalized_height);
    document.getElementById('chain-id').textContent = `Chain ${data.chain_id}.`;
  } else if (kind === 'mode') {
    const badge = document.getElementById('live');
    badge.textContent = data;
    badge.className = `live ${data === 'live' ? 'on' : 'off'}`;
    badge.title = data === 'live'
      ? 'Subscribed to finalized blocks on the node\'s WebSocket'
      : data === 'polling' ? 'The node\'s WebSocket is out of reach; asking every 2 s' : 'Connecting to the node';
  } else if (kind === 'status-error') {
    showError(`The node does not answer: ${data.message ?? data}`);
  }
}

async function main() {
  document.getElementById('search').addEventListener('submit', search);
  live.on(showHead);
  await loadConfig();
  window.addEventListener('hashchange', route);
  await live.start();
  route();
}

main().catch(showError);
