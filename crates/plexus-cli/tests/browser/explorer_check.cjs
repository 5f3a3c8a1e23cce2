// The explorer as a person sees it, in Debian's Chromium driven by playwright-core:
// the head advances live, subnet 1 opens from the overview, its miners are in the
// metagraph table, the table sorts by incentive, the charts are drawn, nothing is
// fetched from beyond this machine and the console stays clean. Saves a screenshot.
//
// node explorer_check.cjs EXPLORER_URL SCREENSHOT CHROMIUM MINERS
// with PLAYWRIGHT_CORE naming the playwright-core package directory.

'use strict';

const { chromium } = require(process.env.PLAYWRIGHT_CORE);

const [url, screenshot, executablePath, minersArg] = process.argv.slice(2);
const miners = Number(minersArg);
const LOCAL = new Set(['127.0.0.1', 'localhost', '[::1]']);

function say(msg) {
  process.stdout.write(`${msg}\n`);
}

function numberIn(text) {
  return Number(String(text).replace(/,/g, ''));
}

async function main() {
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    // What a sandboxed root CI machine with no outside network needs.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const errors = [];
  const foreign = [];
  const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => errors.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
  const local = (u) => LOCAL.has(new URL(u).hostname);
  page.on('request', (r) => { if (!local(r.url())) foreign.push(r.url()); });
  page.on('websocket', (ws) => { if (!local(ws.url())) foreign.push(ws.url()); });

  try {
    await page.goto(url, { waitUntil: 'load' });

    // The head: a number, then a larger one pushed by the node's WebSocket.
    await page.waitForFunction(() => /^[\d,]+$/.test(document.querySelector('#head-height')?.textContent ?? ''));
    const first = numberIn(await page.textContent('#head-height'));
    await page.waitForSelector('#live.on', { timeout: 30_000 });
    await page.waitForFunction((h) => Number(document.querySelector('#head-height').textContent.replace(/,/g, '')) > h,
      first, { timeout: 60_000 });
    const later = numberIn(await page.textContent('#head-height'));
    say(`height advanced live: ${first} -> ${later}`);

    // Subnet 1 from the overview's subnet table.
    const link = page.locator('[data-table=subnets] a[href="#/subnet/1"]');
    await link.waitFor({ timeout: 30_000 });
    await link.click();
    await page.waitForSelector('h1:text("Subnet 1")');
    const rows = page.locator('[data-table=metagraph] tbody tr[data-key]');
    await rows.first().waitFor({ timeout: 30_000 });

    // The miners: the UIDs serving an axon.
    const minerRows = async () => page.$$eval('[data-table=metagraph] tbody tr[data-key]', (trs) =>
      trs.filter((tr) => tr.querySelector('td[data-col=axon]').textContent.trim() !== '').length);
    await page.waitForFunction((n) => [...document.querySelectorAll('[data-table=metagraph] tbody tr[data-key]')]
      .filter((tr) => tr.querySelector('td[data-col=axon]').textContent.trim() !== '').length >= n,
    miners, { timeout: 60_000 });
    say(`metagraph of subnet 1: ${await rows.count()} UIDs, ${await minerRows()} miners serving`);

    // Wait for an epoch that pays a miner, then sort by incentive.
    await page.waitForFunction(() => [...document.querySelectorAll('[data-table=metagraph] td[data-col=incentive]')]
      .some((td) => Number(td.textContent) > 0), null, { timeout: 240_000, polling: 500 });
    await page.click('[data-table=metagraph] th[data-key=incentive] button');
    await page.waitForSelector('[data-table=metagraph] th[data-key=incentive][aria-sort=descending]');
    const sorted = await page.$$eval('[data-table=metagraph] tbody tr[data-key]', (trs) => trs.map((tr) => ({
      uid: tr.dataset.key,
      incentive: Number(tr.querySelector('td[data-col=incentive]').textContent),
      axon: tr.querySelector('td[data-col=axon]').textContent.trim(),
    })));
    for (let i = 1; i < sorted.length; i++) {
      if (sorted[i].incentive > sorted[i - 1].incentive) throw new Error(`not sorted by incentive: ${JSON.stringify(sorted)}`);
    }
    if (!(sorted[0].incentive > 0) || sorted[0].axon === '') {
      throw new Error(`the top earner is not a serving miner: ${JSON.stringify(sorted[0])}`);
    }
    say(`sorted by incentive: ${sorted.map((r) => `UID ${r.uid} ${r.incentive}`).join(', ')}`);

    // The charts, once the explorer has sampled an epoch.
    await page.waitForSelector('[data-chart=incentive] svg circle', { timeout: 60_000 });
    await page.waitForSelector('[data-chart=emission] svg circle');
    say(`charts drawn: ${await page.locator('[data-chart=incentive] svg circle').count()} points of incentive`);

    await page.screenshot({ path: screenshot, fullPage: true });
    say(`screenshot: ${screenshot}`);

    // An address mistyped into the URL is named as not being one.
    await page.goto(`${url}#/account/plx1notanaddress`, { waitUntil: 'load' });
    const refused = page.locator('[data-error=account]');
    await refused.waitFor({ timeout: 30_000 });
    const why = await refused.textContent();
    if (!why.includes('is not a Plexus address')) throw new Error(`a bad address shows: ${why}`);
    say(`a bad address: ${why}`);
  } catch (e) {
    await page.screenshot({ path: screenshot, fullPage: true }).catch(() => {});
    throw e;
  } finally {
    await browser.close();
  }
  if (foreign.length) throw new Error(`requests beyond this machine: ${foreign.join(', ')}`);
  if (errors.length) throw new Error(`errors in the page:\n${errors.join('\n')}`);
  say('no console errors; nothing fetched from beyond this machine');
}

main().catch((e) => {
  process.stderr.write(`${e.stack ?? e}\n`);
  process.exit(1);
});
