// console.js drives tandem's web console in headless Chromium for
// e2e/browser_test.go. Usage:
//
//   node console.js LIVE_URL BACKUP_URL USER PASSWORD QUEUE DEPTH SCREENSHOT
//
// On the live node it logs in, checks the role badge, reads the queue's
// depth (which the Go test filled with DEPTH messages), sends one more
// message through the console and sees the depth grow, opens the queue and
// finds a message body, purges the queue through the confirmation page and
// sees it empty, and saves a screenshot. On the backup it logs in and checks
// that the console says backup. Every check that fails exits 1 with the
// reason; the last line printed on success is "console ok".
'use strict';
const puppeteer = require('puppeteer-core');

const [live, backup, user, password, queue, depthArg, screenshot] = process.argv.slice(2);
const browserPath = process.env.CHROMIUM || '/usr/bin/chromium';

function fail(msg) {
  console.error('console check failed: ' + msg);
  process.exit(1);
}

async function login(page, base) {
  await page.goto(base + '/queues', { waitUntil: 'load' });
  if (!page.url().includes('/login')) fail('an anonymous visit to /queues was not sent to the login page: ' + page.url());
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

(async () => {
  const browser = await puppeteer.launch({
    executablePath: browserPath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 420, height: 900 }); // a narrow window
    await login(page, live);
    const role = await text(page, '#role');
    if (role !== 'live') fail(`the live node's role badge says ${role}`);
    const before = await depth(page, live);
    if (before !== Number(depthArg)) fail(`depth ${before}, want ${depthArg}`);

    await page.goto(`${live}/queues/${queue}`, { waitUntil: 'load' });
    await page.click('details summary');
    await page.$eval('#send-body', (e) => { e.value = 'sent from headless chromium'; });
    await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click('#send')]);
    const after = await depth(page, live);
    if (after !== before + 1) fail(`depth after the console's send is ${after}, want ${before + 1}`);

    await page.goto(`${live}/queues/${queue}`, { waitUntil: 'load' });
    const bodies = await page.$$eval('pre.body', (els) => els.map((e) => e.textContent));
    if (!bodies.includes('sent from headless chromium')) fail('the browsed messages lack the one the console sent');
    await page.screenshot({ path: screenshot, fullPage: true });

    await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click('#purge')]);
    await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click('#confirm')]);
    const flash = await text(page, '#flash');
    if (!flash.startsWith(`Purged ${after} messages`)) fail(`purge said "${flash}"`);
    if ((await depth(page, live)) !== 0) fail('the queue is not empty after the purge');

    const other = await browser.newPage();
    await login(other, backup);
    const backupRole = await text(other, '#role');
    if (backupRole !== 'backup') fail(`the backup's role badge says ${backupRole}`);
    await other.goto(backup + '/queues', { waitUntil: 'load' });
    await text(other, '#notlive');
    console.log('console ok');
  } finally {
    await browser.close();
  }
})().catch((e) => fail(e.stack || String(e)));
