// Click through the seed flow in the sandbox's super-app simulator with Debian's chromium
// (playwright-core, no downloaded browser).  Prints one JSON line per scene for run.sh to check,
// and keeps a screenshot of each step in the output directory.
//
//   node flow.mjs SIMULATOR_URL OUTPUT_DIR
import { chromium } from 'playwright-core';

const [base, out] = process.argv.slice(2);
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium' });
const context = await browser.newContext({ viewport: { width: 1100, height: 780 } });
context.setDefaultTimeout(10000);

// One scene: a fresh page for a customer; steps(page, shot) drives it; prints what it saw.
// Console errors are problems, except those matching allowed (an answer the scene expects).
async function scene(name, query, steps, allowed = null) {
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push('page error: ' + e.message));
  page.on('console', (m) => {
    if (m.type() === 'error' && !(allowed && allowed.test(m.text()))) problems.push('console: ' + m.text());
  });
  let n = 0;
  const shot = async (what) => page.screenshot({ path: `${out}/${name}-${++n}-${what}.png` });
  const seen = { scene: name };
  try {
    await page.goto(base + '&' + query);
    await steps(page, shot, seen);
  } catch (e) {
    seen.error = e.message.split('\n')[0];
    await shot('error').catch(() => {});
  }
  seen.log = await page.locator('#log li').allTextContents();
  seen.problems = problems;
  console.log(JSON.stringify(seen));
  await page.close();
}

const screen = (page) => page.locator('#screen');
const wallet = (page) => page.frameLocator('#webview-frame');

// Agree: site info, the button, the wallet's consent page, the result with the first debit.
await scene('agree', 'customer=customer-7', async (page, shot, seen) => {
  await screen(page).getByText('paid from your GCASH wallet').waitFor();
  seen.price = await screen(page).locator('.plan-price').textContent();
  await shot('site-info');
  await screen(page).getByRole('button', { name: 'Enable auto debit' }).click();
  await wallet(page).getByRole('heading', { name: /authorize automatic payments/ }).waitFor();
  seen.consent = (await wallet(page).locator('body').textContent()).replace(/\s+/g, ' ').trim();
  await shot('consent');
  await wallet(page).getByLabel(/Wallet user/).fill('maria@gcash');
  await wallet(page).getByRole('button', { name: 'Agree' }).click();
  await screen(page).getByText('Auto debit is on').waitFor();
  seen.result = (await screen(page).locator('.done').textContent()).replace(/\s+/g, ' ').trim();
  await shot('result');
});

// Decline: my.signContract fails with 6001 and the page says so; nothing is debited.
await scene('decline', 'customer=customer-8', async (page, shot, seen) => {
  await screen(page).getByRole('button', { name: 'Enable auto debit' }).click();
  await wallet(page).getByRole('button', { name: 'Decline' }).click();
  await screen(page).locator('.message').waitFor();
  seen.message = await screen(page).locator('.message').textContent();
  seen.button_enabled = await screen(page).getByRole('button', { name: 'Enable auto debit' }).isEnabled();
  await shot('declined');
});

// Outcome unknown: the wallet agreed but my.signContract reports 7001; the page asks the backend.
await scene('unknown', 'customer=customer-9&fail=7001', async (page, shot, seen) => {
  await screen(page).getByRole('button', { name: 'Enable auto debit' }).click();
  await wallet(page).getByRole('button', { name: 'Agree' }).click();
  await screen(page).locator('.message, .done').first().waitFor();
  seen.message = await screen(page).locator('.message').textContent().catch(() => null);
  await shot('unknown');
});

// A site the merchant does not offer: the backend refuses it with a clear message.
await scene('unsupported', 'customer=customer-10&site=ALIPAY_MO', async (page, shot, seen) => {
  await screen(page).getByRole('button', { name: 'Enable auto debit' }).click();
  await screen(page).locator('.message').waitFor();
  seen.message = await screen(page).locator('.message').textContent();
  await shot('refused');
}, /responded with a status of 400/);

await browser.close();
