// Open the report in headless Chromium as a reader would: desktop and phone widths,
// print to A4 and Letter. Fails on any console error, page error or network request
// other than the file itself (data: URIs are not requests), on horizontal overflow, on
// any element wider than the window outside a scrolling box, and on a table row
// taller than the screen.
// Usage: node check.mjs REPORT_DIR OUT_DIR
import { chromium } from 'playwright-core';
import path from 'node:path';
import fs from 'node:fs';

const [reportDir, outDir] = process.argv.slice(2);
const page_url = 'file://' + path.resolve(reportDir, 'index.html');
fs.mkdirSync(outDir, { recursive: true });
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const problems = [];
const results = {};
for (const [name, width, height] of [['desktop', 1280, 900], ['phone', 390, 844]]) {
  const context = await browser.newContext({ viewport: { width, height }, deviceScaleFactor: 1 });
  const page = await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(`${name} console ${m.type()}: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`${name} page error: ${e.message}`));
  page.on('request', (r) => { if (r.url() !== page_url && !r.url().startsWith('data:')) problems.push(`${name} request: ${r.url()}`); });
  const response = await page.goto(page_url, { waitUntil: 'load' });
  if (!response || !response.ok()) problems.push(`${name}: page did not load`);
  const m = await page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
    tiles: document.querySelectorAll('.tile').length,
    figures: document.querySelectorAll('figure img').length,
    title: document.title,
    // Elements reaching past the window, unless a scrolling box clips them.
    wide: [...document.querySelectorAll('body *')].filter((el) => {
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.right <= window.innerWidth + 1) return false;
      for (let p = el.parentElement; p; p = p.parentElement) {
        const o = getComputedStyle(p).overflowX;
        if (o === 'auto' || o === 'scroll' || o === 'hidden') return false;
      }
      return true;
    }).slice(0, 5).map((el) => `${el.tagName.toLowerCase()}.${el.className}`),
    tallRows: [...document.querySelectorAll('tr')].filter((tr) => tr.getBoundingClientRect().height > window.innerHeight).length,
    brokenImages: [...document.querySelectorAll('img')].filter((img) => !img.complete || img.naturalWidth === 0).length,
  }));
  results[name] = m;
  if (m.scrollWidth > m.innerWidth + 1) problems.push(`${name}: page is ${m.scrollWidth}px wide in a ${m.innerWidth}px window`);
  if (m.wide.length) problems.push(`${name}: wider than the window: ${m.wide.join(', ')}`);
  if (m.tallRows) problems.push(`${name}: ${m.tallRows} table rows taller than the screen`);
  if (m.brokenImages) problems.push(`${name}: ${m.brokenImages} images did not load`);
  await page.screenshot({ path: path.join(outDir, `${name}.png`), fullPage: true });
  if (name === 'desktop') {
    for (const format of ['A4', 'Letter']) {
      const pdf = await page.pdf({ format, printBackground: true, margin: { top: '12mm', bottom: '12mm', left: '12mm', right: '12mm' } });
      fs.writeFileSync(path.join(outDir, `report-${format}.pdf`), pdf);
      results[`pdf_${format}_bytes`] = pdf.length;
    }
  }
  await context.close();
}
await browser.close();
console.log(JSON.stringify({ results, problems }));
process.exit(problems.length ? 1 : 0);
