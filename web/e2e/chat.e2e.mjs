// End-to-end chat through a real Chorus server and Debian's Chromium:
// a visitor opens /demo and starts a chat in the widget; an agent signs into
// the console, accepts the conversation, and both exchange messages.
//
//   CHORUS_E2E_URL=http://127.0.0.1:8080 CHORUS_E2E_EMAIL=admin@… \
//   CHORUS_E2E_PASSWORD=… CHORUS_E2E_TENANT=… node e2e/chat.e2e.mjs [screenshot-dir]
//
// Exits non-zero on any failure; screenshots go to the directory given as the
// first argument (or CHORUS_E2E_SCREENSHOTS, default ./e2e-screenshots).

import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

const base = (process.env.CHORUS_E2E_URL || 'http://127.0.0.1:8080').replace(/\/$/, '');
const email = process.env.CHORUS_E2E_EMAIL;
const password = process.env.CHORUS_E2E_PASSWORD;
const tenant = process.env.CHORUS_E2E_TENANT;
const shots = resolve(process.argv[2] || process.env.CHORUS_E2E_SCREENSHOTS || 'e2e-screenshots');
const timeout = Number(process.env.CHORUS_E2E_TIMEOUT_MS || 15000);

if (!email || !password || !tenant) {
  console.error('chat.e2e: set CHORUS_E2E_EMAIL, CHORUS_E2E_PASSWORD and CHORUS_E2E_TENANT (and CHORUS_E2E_URL)');
  process.exit(2);
}
mkdirSync(shots, { recursive: true });

const userDataDir = mkdtempSync(join(tmpdir(), 'chorus-e2e-'));
const tag = Math.random().toString(36).slice(2, 8);
let step = 0;
let context;
let visitor;
let agent;

function log(msg) {
  console.log(`[chat.e2e] ${msg}`);
}

async function shot(page, name) {
  step++;
  const file = join(shots, `${String(step).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage: false }).catch(() => undefined);
  log(`screenshot ${file}`);
}

async function main() {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHORUS_E2E_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1280, height: 800 },
  });
  context.setDefaultTimeout(timeout);

  // Visitor: the demo shop with the widget.
  visitor = await context.newPage();
  visitor.on('console', (m) => m.type() === 'error' && log(`visitor console: ${m.text()}`));
  visitor.on('pageerror', (e) => log(`visitor page error: ${e.message}`));
  await visitor.goto(`${base}/demo`);
  await visitor.locator('chorus-widget .launcher').click();
  await shot(visitor, 'widget-open');
  await visitor.locator('chorus-widget input[name="name"]').fill(`E2E Visitor ${tag}`);
  await visitor.locator('chorus-widget button:has-text("Start chat")').click();
  await visitor.locator('chorus-widget [data-testid="chorus-status"]', { hasText: /waiting for an agent/i }).waitFor();
  const convId = await visitor.evaluate(() => window.ChorusWidget?.client.session?.conversation.id);
  if (!convId) throw new Error('widget has no conversation after starting the chat');
  log(`conversation ${convId}`);

  const hello = `Hello from the visitor ${tag}`;
  await sendFromWidget(hello);
  await visitor.locator('chorus-widget .msg.own[data-state="sent"], chorus-widget .msg.own[data-state="delivered"], chorus-widget .msg.own[data-state="read"]', { hasText: hello }).waitFor();
  await shot(visitor, 'visitor-sent');

  // Agent: sign in, go online, open the queued conversation, accept it.
  agent = await context.newPage();
  agent.on('pageerror', (e) => log(`agent page error: ${e.message}`));
  await agent.goto(`${base}/login`);
  await agent.locator('input[name="email"]').fill(email);
  await agent.locator('input[name="password"]').fill(password);
  await agent.locator('input[name="tenant"]').fill(tenant);
  await agent.locator('button[type="submit"]').click();
  await agent.locator('[data-testid="connection"]', { hasText: 'live' }).waitFor();
  await agent.locator('select[aria-label="My status"]').selectOption('online');
  await agent.locator('.inbox a[href="/conversations/' + convId + '"]').waitFor();
  await shot(agent, 'agent-inbox');
  await agent.locator('.inbox a[href="/conversations/' + convId + '"]').click();
  await agent.locator('[data-testid="messages"] .msg', { hasText: hello }).waitFor();
  await agent.locator('button:has-text("Accept")').click();
  await agent.locator('[data-testid="conv-status"]', { hasText: 'active' }).waitFor();
  await visitor.locator('chorus-widget [data-testid="chorus-status"]', { hasText: /agent is here/i }).waitFor();
  await shot(agent, 'agent-accepted');

  // Agent → visitor.
  const reply = `Hi ${tag}, this is your agent. How can I help?`;
  await agent.locator('textarea[aria-label="Reply"]').fill(reply);
  await agent.locator('textarea[aria-label="Reply"]').press('Enter');
  await agent.locator('[data-testid="messages"] .msg.own:not(.sending)', { hasText: reply }).waitFor();
  await visitor.locator('chorus-widget .msg.them', { hasText: reply }).waitFor();
  await shot(visitor, 'visitor-got-reply');

  // Visitor → agent, live on the agent socket.
  const second = `My order ${tag} has not arrived <b>yet</b>`;
  await sendFromWidget(second);
  await agent.locator('[data-testid="messages"] .msg.visitor', { hasText: second }).waitFor();
  // Rendered as text, never as HTML.
  const bold = await agent.locator('[data-testid="messages"] .msg.visitor b').count();
  if (bold !== 0) throw new Error('a message body was rendered as HTML');
  await shot(agent, 'agent-got-message');

  // The agent saw it: the visitor's message should turn "read" (receipts).
  try {
    await visitor.locator('chorus-widget .msg.own[data-state="read"]', { hasText: second }).waitFor({ timeout: 5000 });
    log('read receipt reached the visitor');
  } catch {
    log('warning: no read receipt on the visitor side within 5 s');
  }
  await shot(visitor, 'visitor-final');
  log('PASS');
}

async function sendFromWidget(text) {
  const box = visitor.locator('chorus-widget textarea');
  await box.fill(text);
  await box.press('Enter');
}

let code = 0;
try {
  await main();
} catch (err) {
  code = 1;
  console.error(`[chat.e2e] FAIL: ${err && err.stack ? err.stack : err}`);
  if (visitor) await shot(visitor, 'failure-visitor');
  if (agent) await shot(agent, 'failure-agent');
} finally {
  await context?.close().catch(() => undefined);
  rmSync(userDataDir, { recursive: true, force: true });
}
process.exit(code);
