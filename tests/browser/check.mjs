// Open the report in headless Chromium as a reader would: desktop and phone widths,
// print to A4 and Letter. Fails on any console error, page error or network request
// other than the file itself, and on horizontal overflow at phone width.
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
  page.on('request', (r) => { if (r.url() !== page_url) problems.push(`${name} request: ${r.url()}`); });
  const response = await page.goto(page_url, { waitUntil: 'load' });
  if (!response || !response.ok()) problems.push(`${name}: page did not load`);
  const m = await page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
    tiles: document.querySelectorAll('.tile').length,
    figures: document.querySelectorAll('figure svg').length,
    title: document.title,
  }));
  results[name] = m;
  if (m.scrollWidth > m.innerWidth + 1) problems.push(`${name}: page is ${m.scrollWidth}px wide in a ${m.innerWidth}px window`);
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
