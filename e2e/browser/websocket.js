// websocket.js opens e2e/browser/websocket.html in headless Chromium for
// e2e/mqtt_browser_test.go. Usage:
//
//   node websocket.js PAGE_URL FOREIGN_PAGE_URL
//
// PAGE_URL is the page on an origin tandem allows; it speaks STOMP and
// MQTT over WebSocket to both of tandem's ports. FOREIGN_PAGE_URL is the
// same page on an origin tandem does not allow, whose WebSockets must be
// refused. It prints each page's results as JSON, then "websocket ok";
// any failed check exits 1 with the reason.
'use strict';
const puppeteer = require('puppeteer-core');

const [pageURL, foreignURL] = process.argv.slice(2);
const browserPath = process.env.CHROMIUM || '/usr/bin/chromium';

function fail(msg) {
  console.error('websocket check failed: ' + msg);
  process.exit(1);
}

async function run(browser, url) {
  const page = await browser.newPage();
  page.on('console', (m) => console.log('page: ' + m.text()));
  await page.goto(url, { waitUntil: 'load' });
  await page.waitForFunction(() => document.title === 'done', { timeout: 60000 });
  const results = await page.evaluate(() => window.results);
  console.log(JSON.stringify(results));
  await page.close();
  return results;
}

(async () => {
  const browser = await puppeteer.launch({
    executablePath: browserPath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  try {
    const r = await run(browser, pageURL);
    if (r.error) fail(r.error);
    for (const k of ['stompClientPort', 'stompHTTPPort']) {
      if (r[k] !== 'hello from stompjs') fail(`${k}: ${JSON.stringify(r[k])}`);
    }
    for (const k of ['mqttClientPort', 'mqttHTTPPort']) {
      const m = r[k] || {};
      if (m.topic !== 'browser/mqtt' || m.payload !== 'hello from mqtt.js' || m.from !== 'chromium') fail(`${k}: ${JSON.stringify(m)}`);
    }
    if (r.cross !== 'from mqtt.js to stompjs') fail(`cross: ${JSON.stringify(r.cross)}`);
    for (const k of ['noSubprotocolClientPort', 'noSubprotocolHTTPPort']) {
      if (r[k] !== true) fail(`a WebSocket without a subprotocol was not refused (${k}: ${r[k]})`);
    }
    const f = await run(browser, foreignURL);
    if (f.mqttRefused !== true || f.stompRefused !== true) fail('a page from a foreign origin was not refused: ' + JSON.stringify(f));
    console.log('websocket ok');
  } finally {
    await browser.close();
  }
})().catch((e) => fail(e.stack || String(e)));
