// console.js drives tandem's web console in headless Chromium for
// e2e/browser_test.go. Usage:
//
//   node console.js LIVE_URL BACKUP_URL USER PASSWORD QUEUE DEPTH SHOTS_DIR
//
// On the live node it logs in, checks the role badge, waits until the
// overview's charts are drawn from live data (the Go test keeps messages
// flowing), checks that the picture of the pair shows this node live and
// the backup waiting, reads the queue's depth (which the Go test filled
// with DEPTH messages), sends one more message through the console and
// sees the depth grow, opens the queue and finds its charts and the
// message body, purges the queue through the confirmation page and sees
// it empty. On the backup it logs in, checks the badge and that its
// picture of the pair shows the live and itself waiting. It saves a
// screenshot of every page it visits in SHOTS_DIR (NAME.png). Every check
// that fails exits 1 with the reason; the last line printed on success is
// "console ok".
'use strict';
const path = require('path');
const puppeteer = require('puppeteer-core');

const [live, backup, user, password, queue, depthArg, shots] = process.argv.slice(2);
const browserPath = process.env.CHROMIUM || '/usr/bin/chromium';
const errors = [];

function fail(msg) {
  console.error('console check failed: ' + msg);
  process.exit(1);
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(shots, name + '.png'), fullPage: true });
  console.log('screenshot ' + name);
}

async function login(page, base, name) {
  await page.goto(base + '/queues', { waitUntil: 'load' });
  if (!page.url().includes('/login')) fail('an anonymous visit to /queues was not sent to the login page: ' + page.url());
  if (name) await shot(page, name);
  await page.type('#user', user);
  await page.type('#password', password);
  await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click('#login')]);
}

async function text(page, selector) {
  const el = await page.$(selector);
  if (!el) fail(`no ${selector} on ${page.url()}`);
  return (await page.evaluate((e) => e.textContent, el)).trim();
}

async function depth(page, base) {
  await page.goto(base + '/queues', { waitUntil: 'load' });
  return Number(await text(page, `tr[data-queue="${queue}"] .depth`));
}

// chartDrawn waits until the chart has at least points samples and a value
// above zero, as console.js marks them on the figure, and returns them.
async function chartDrawn(page, id, points = 2) {
  try {
    await page.waitForFunction((sel, n) => {
      const f = document.querySelector(sel);
      return f && Number(f.dataset.points) >= n && Number(f.dataset.max) > 0 && f.querySelector('path.series');
    }, { timeout: 45000, polling: 250 }, '#' + id, points);
  } catch (e) {
    const state = await page.evaluate((sel) => { const f = document.querySelector(sel); return f ? JSON.stringify(f.dataset) : 'missing'; }, '#' + id);
    fail(`chart ${id} on ${page.url()} has no live data: ${state}`);
  }
  return page.evaluate((sel) => ({ ...document.querySelector(sel).dataset }), '#' + id);
}

// pairShows checks the picture of the pair: one live node and a backup
// waiting, with this node marked.
async function pairShows(page, self) {
  const nodes = await page.$$eval('#pair .node', (els) => els.map((e) => ({
    role: e.dataset.role, state: e.dataset.state, self: e.classList.contains('self'),
    name: e.querySelector('.node-title').textContent.trim(),
  })));
  const liveNodes = nodes.filter((n) => n.role === 'live' && n.state === 'live');
  const waiting = nodes.filter((n) => n.role === 'backup' && n.state === 'waiting');
  if (liveNodes.length !== 1 || waiting.length < 1) fail(`the pair on ${page.url()} shows ${JSON.stringify(nodes)}, want one live and a waiting backup`);
  const me = nodes.find((n) => n.self);
  if (!me || me.role !== self) fail(`the pair on ${page.url()} marks ${JSON.stringify(me)} as this node, want the ${self}`);
  if (!(await text(page, '#pair .link-store .epoch')).startsWith('epoch ')) fail('the pair shows no epoch');
}

(async () => {
  const browser = await puppeteer.launch({
    executablePath: browserPath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  try {
    const page = await browser.newPage();
    page.on('pageerror', (e) => errors.push(`${page.url()}: ${e.message}`));
    page.on('console', (m) => { if (m.type() === 'error') errors.push(`${page.url()}: ${m.text()}`); });
    await page.setViewport({ width: 1280, height: 900 });
    await login(page, live, 'login');
    const role = await text(page, '#role');
    if (role !== 'live') fail(`the live node's role badge says ${role}`);

    await page.goto(live + '/', { waitUntil: 'load' });
    const rates = await chartDrawn(page, 'chart-rates', 10); // in and out: five samples each
    const depthChart = await chartDrawn(page, 'chart-depth');
    console.log(`overview charts: rates ${rates.points} points, max ${rates.max}/s; depth max ${depthChart.max}`);
    await page.waitForFunction(() => [...document.querySelectorAll('svg.spark')].some((s) => Number(s.dataset.points) >= 2),
      { timeout: 20000 }).catch(() => fail('no sparkline of the deepest queues was drawn'));
    await pairShows(page, 'live');
    await shot(page, 'overview-live');

    const before = await depth(page, live);
    if (before !== Number(depthArg)) fail(`depth ${before}, want ${depthArg}`);
    await shot(page, 'queues');

    await page.goto(`${live}/queues/${encodeURIComponent(queue)}`, { waitUntil: 'load' }); // an old link: redirected
    if (!page.url().includes('/queue?name=')) fail('the old queue link was not redirected: ' + page.url());
    await page.click('#send-details summary');
    await page.$eval('#send-body', (e) => { e.value = 'sent from headless chromium'; });
    await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click('#send')]);
    const after = await depth(page, live);
    if (after !== before + 1) fail(`depth after the console's send is ${after}, want ${before + 1}`);

    await page.goto(`${live}/queue?name=${encodeURIComponent(queue)}`, { waitUntil: 'load' });
    const bodies = await page.$$eval('pre.body', (els) => els.map((e) => e.textContent));
    if (!bodies.includes('sent from headless chromium')) fail('the browsed messages lack the one the console sent');
    await chartDrawn(page, 'chart-depth');
    await shot(page, 'queue');

    await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click('#purge')]);
    await shot(page, 'purge-confirm');
    await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click('#confirm')]);
    const flash = await text(page, '#flash');
    if (!flash.startsWith(`Purged ${after} messages`)) fail(`purge said "${flash}"`);
    if ((await depth(page, live)) !== 0) fail('the queue is not empty after the purge');

    // The busy queue has a consumer: its page lists it.
    await page.goto(`${live}/queue?name=traffic`, { waitUntil: 'load' });
    await chartDrawn(page, 'chart-rates');
    const consumers = await page.$$eval('#queue-consumers tbody tr', (rows) => rows.length);
    if (consumers < 1) fail('the traffic queue lists no consumer');
    await shot(page, 'queue-busy');
    for (const p of ['addresses', 'consumers', 'connections']) {
      await page.goto(`${live}/${p}`, { waitUntil: 'load' });
      await shot(page, p);
    }

    const other = await browser.newPage();
    other.on('pageerror', (e) => errors.push(`${other.url()}: ${e.message}`));
    await other.setViewport({ width: 1280, height: 900 });
    await login(other, backup);
    const backupRole = await text(other, '#role');
    if (backupRole !== 'backup') fail(`the backup's role badge says ${backupRole}`);
    await other.goto(backup + '/', { waitUntil: 'load' });
    await pairShows(other, 'backup');
    await shot(other, 'overview-backup');
    await other.goto(backup + '/queues', { waitUntil: 'load' });
    await text(other, '#notlive');
    await shot(other, 'queues-backup');

    // A narrow window, as on a phone. (The console draws only while its
    // tab is visible.)
    await page.bringToFront();
    await page.setViewport({ width: 420, height: 900 });
    await page.goto(live + '/', { waitUntil: 'load' });
    await chartDrawn(page, 'chart-rates');
    await shot(page, 'overview-narrow');

    if (errors.length) fail('the pages reported errors:\n' + errors.join('\n'));
    console.log('console ok');
  } finally {
    await browser.close();
  }
})().catch((e) => fail(e.stack || String(e)));
