// The web chat page in headless Chromium (Debian's chromium, driven by playwright-core): loads the page, asks a
// question, and reports what a person would have seen. Used by WebChatBrowserTest, which asserts on the JSON
// line this prints: no script errors, the answer streamed in several steps, the route shown, the panels filled.
//
//   node web-chat.mjs URL MODEL QUESTION [SCREENSHOT.png]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const [url, model, question, screenshot] = process.argv.slice(2);
if (!url || !model) {
  console.error('usage: node web-chat.mjs URL MODEL QUESTION [SCREENSHOT.png]');
  process.exit(2);
}
const executablePath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'companion-chromium-'));
// a fresh profile every run (playwright passes it to chromium as --user-data-dir)
const browser = await chromium.launchPersistentContext(userDataDir, {
  executablePath,
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const out = { errors: [], console: [] };
try {
  const page = browser.pages()[0] || await browser.newPage();
  page.on('pageerror', (e) => out.errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') out.console.push(m.text()); });
  page.on('response', (r) => {
    if (r.url().endsWith('/v1/chat/completions')) out.chatContentType = r.headers()['content-type'] || null;
  });
  const resp = await page.goto(url, { waitUntil: 'load' });
  out.status = resp.status();
  out.title = await page.title();
  // the model list comes from /v1/models
  await page.waitForFunction((m) => [...document.querySelectorAll('#model option')].some((o) => o.value === m),
    model, { timeout: 20_000 });
  out.models = await page.$$eval('#model option', (os) => os.map((o) => o.value));
  await page.selectOption('#model', model);
  await page.fill('#temperature', '0');
  await page.fill('#maxTokens', '60');
  // a slow network (about 16 KB/s down) for the question, as a phone on a bad line would have: the answer's
  // Server-Sent Events then arrive over many reads, so a page that renders them as they come shows it growing
  const cdp = await browser.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 20,
    downloadThroughput: 16 * 1024, uploadThroughput: -1 });
  // count how often the answer's text changes while it streams
  await page.evaluate(() => {
    window.__updates = [];
    new MutationObserver(() => {
      const t = document.querySelector('.msg.assistant .text');
      if (t) window.__updates.push(t.textContent.length);
    }).observe(document.getElementById('messages'), { subtree: true, childList: true, characterData: true });
  });
  await page.fill('#question', question || '');
  await page.press('#question', 'Enter');
  await page.waitForSelector('.msg.assistant[data-streaming="false"]', { timeout: 60_000 });
  out.answer = await page.textContent('.msg.assistant .text');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1,
    uploadThroughput: -1 });
  out.route = await page.textContent('.msg.assistant .route');
  out.feedbackButtons = await page.$$eval('.msg.assistant .feedback button', (bs) => bs.length);
  out.updates = await page.evaluate(() => window.__updates);
  out.statusLine = await page.textContent('#status');
  out.assistantIsError = await page.$eval('.msg.assistant', (e) => e.classList.contains('error'));
  // the cluster panel polls /v1/cluster/nodes
  await page.waitForFunction(() => document.querySelectorAll('#nodes tr td').length >= 5, null, { timeout: 15_000 })
    .catch(() => {});
  out.clusterRows = await page.$$eval('#nodes tr', (rs) => rs.map((r) => [...r.children].map((c) => c.textContent)));
  out.gaps = await page.$$eval('#gaps li', (ls) => ls.map((l) => l.textContent));
  // the question asked becomes a pattern once the knowledge service has logged the interaction (asynchronously,
  // after the answer): press the knowledge panel's refresh button until it shows, for 15 s at most
  for (let i = 0; i < 15; i++) {
    const shown = await page.$$eval('#patterns li', (ls, q) => ls.some((l) => l.textContent.startsWith(q)), question || '');
    if (shown) break;
    await page.click('button[data-panel="knowledge"]');
    await page.waitForTimeout(1000);
  }
  out.patterns = await page.$$eval('#patterns li', (ls) => ls.map((l) => l.textContent));
  if (out.feedbackButtons > 0) {
    await page.click('.msg.assistant .feedback button[data-rating="1"]');
    await page.waitForFunction(() => /feedback/i.test(document.getElementById('status').textContent),
      null, { timeout: 10_000 }).catch(() => {});
    out.feedbackStatus = await page.textContent('#status');
  }
  if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
} catch (e) {
  out.failure = String(e && e.stack || e);
} finally {
  await browser.close();
  fs.rmSync(userDataDir, { recursive: true, force: true });
}
console.log(JSON.stringify(out));
