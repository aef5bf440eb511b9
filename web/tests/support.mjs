// Shared pieces of the browser tests: a real `herald serve` process on a
// free port with its own data directory, Debian's chromium driven by
// playwright-core, one browser context per user, console errors collected
// (any of them fails the test), and helpers that act as a person would.

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';

export const WEB = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const ROOT = resolve(WEB, '..');
export const RESULTS = join(WEB, 'test-results');
/** The built app Herald serves: web/dist, or the build tests/web.rs made. */
export const DIST = process.env.HERALD_WEB_DIST ?? join(WEB, 'dist');
export const CHROMIUM = process.env.HERALD_CHROMIUM ?? '/usr/bin/chromium';
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Fails loudly (never skips) when something the tests need is missing. */
export async function loadPlaywright() {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: run scripts/web-deps.sh (it installs Debian's chromium)`);
  }
  if (!existsSync(join(DIST, 'index.html'))) {
    throw new Error(`${DIST} is not built: run \`npm run build\` in web/ (scripts/web-deps.sh installs what it needs)`);
  }
  try {
    return await import('playwright-core');
  } catch {
    throw new Error('playwright-core is not installed in web/node_modules: run scripts/web-deps.sh');
  }
}

export function heraldBinary() {
  const bin = process.env.HERALD_BIN ?? join(ROOT, 'target', 'debug', 'herald');
  if (!existsSync(bin)) throw new Error(`no herald binary at ${bin}: run cargo build (or set HERALD_BIN)`);
  return bin;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A herald process; `restart` keeps the port and the data directory. */
export class Herald {
  constructor() {
    this.dataDir = mkdtempSync(join(tmpdir(), 'herald-web-'));
    this.listen = '127.0.0.1:0';
    this.child = null;
    this.url = null;
    this.log = [];
  }

  async start() {
    const child = spawn(heraldBinary(), ['serve'], {
      cwd: ROOT,
      env: {
        // Only these settings reach Herald.
        ...Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('HERALD_'))),
        HERALD_SERVER__HTTP_LISTEN: this.listen,
        HERALD_SERVER__STOMP_LISTEN: '',
        HERALD_SERVER__DATA_DIR: this.dataDir,
        HERALD_SERVER__WEB_DIR: DIST,
        HERALD_SERVER__SHUTDOWN_GRACE_MS: '1000',
        HERALD_LOG__FILTER: process.env.HERALD_LOG__FILTER ?? 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    this.exited = exited;
    const ready = new Promise((resolve, reject) => {
      let buffer = '';
      const onData = (chunk) => {
        buffer += chunk.toString();
        const match = /listening http=(\S+)/.exec(buffer);
        if (match) {
          child.stdout.off('data', onData);
          resolve(match[1]);
        }
      };
      child.stdout.on('data', onData);
      child.stdout.on('data', (c) => this.log.push(c.toString()));
      child.stderr.on('data', (c) => this.log.push(c.toString()));
      exited.then(({ code, signal }) => reject(new Error(`herald exited (${code ?? signal}) before listening:\n${this.log.join('')}`)));
      setTimeout(() => reject(new Error(`herald did not print its listening line in 30 s:\n${this.log.join('')}`)), 30000);
    });
    const address = await ready;
    this.listen = address;
    this.url = `http://${address}`;
    return this;
  }

  /** Stops the process: SIGTERM (graceful) or SIGKILL (a crash). */
  async stop(signal = 'SIGTERM') {
    if (!this.child) return;
    const child = this.child;
    this.child = null;
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    const timeout = sleep(15000).then(() => 'timeout');
    if ((await Promise.race([this.exited, timeout])) === 'timeout') {
      child.kill('SIGKILL');
      await this.exited;
    }
  }

  async restart(signal = 'SIGTERM', downMs = 0) {
    await this.stop(signal);
    if (downMs) await sleep(downMs);
    // The port may linger for a moment; retry binding it.
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.start();
      } catch (error) {
        if (attempt >= 10) throw error;
        await sleep(300);
      }
    }
  }

  async cleanup() {
    await this.stop('SIGKILL');
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/** One browser for a test file, one context (own storage, own device id) per user. */
export class Browsers {
  constructor(playwright) {
    this.playwright = playwright;
    this.browser = null;
    this.users = [];
    /** While true, network errors in consoles are expected (Herald is down). */
    this.outage = false;
  }

  async launch() {
    this.browser = await this.playwright.chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: FLAGS,
    });
    return this;
  }

  async user(name, herald, viewport = { width: 1280, height: 800 }) {
    const context = await this.browser.newContext({ viewport, baseURL: herald.url, acceptDownloads: true });
    context.setDefaultTimeout(15000);
    const user = new User(name, context, this);
    await user.openPage(herald);
    this.users.push(user);
    return user;
  }

  /** Every console error and page error seen outside an expected outage. */
  errors() {
    return this.users.flatMap((u) => u.errors.map((e) => `${u.name}: ${e}`));
  }

  assertNoErrors() {
    assert.deepEqual(this.errors(), [], 'no console errors in any page');
  }

  async close() {
    await this.browser?.close();
  }
}

const NETWORK_NOISE = /WebSocket connection to .* failed|ERR_CONNECTION_REFUSED|ERR_CONNECTION_RESET|ERR_EMPTY_RESPONSE|Failed to load resource: net::/;

export class User {
  constructor(name, context, browsers) {
    this.name = name;
    this.context = context;
    this.browsers = browsers;
    this.errors = [];
    this.page = null;
    this.id = null;
  }

  async openPage(herald) {
    const page = await this.context.newPage();
    page.on('console', (message) => {
      if (message.type() !== 'error') return;
      const text = message.text();
      if (this.browsers.outage && NETWORK_NOISE.test(text)) return;
      this.errors.push(text);
    });
    page.on('pageerror', (error) => this.errors.push(`page error: ${error.message}`));
    page.on('dialog', (dialog) => dialog.accept());
    await page.goto(herald.url + '/');
    this.page = page;
    return page;
  }

  async register(password = 'a-long-password') {
    const page = this.page;
    await page.getByRole('button', { name: 'Create an account' }).click();
    await page.getByLabel('Username').fill(this.name);
    await page.getByLabel('Nickname').fill(this.name[0].toUpperCase() + this.name.slice(1));
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Register' }).click();
    await page.getByRole('navigation', { name: 'Sections' }).waitFor();
    await this.waitOnline();
    this.id = await page.evaluate(() => JSON.parse(localStorage.getItem('herald.session')).user.id);
  }

  get nickname() {
    return this.name[0].toUpperCase() + this.name.slice(1);
  }

  async waitOnline() {
    await this.page.locator('.banner').waitFor({ state: 'detached', timeout: 30000 });
  }

  async section(name) {
    await this.page.getByTestId(`nav-${name}`).click();
  }

  /** Searches for `other` and sends a friend request. */
  async requestFriend(other) {
    await this.section('contacts');
    const page = this.page;
    await page.getByLabel('Search users by username').fill(other.name);
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await page.getByRole('button', { name: `Add ${other.nickname} as a friend` }).click();
    await page.getByText('Requested').waitFor();
  }

  async acceptFriend(other) {
    await this.section('contacts');
    await this.page.getByRole('button', { name: `Accept ${other.nickname}` }).click();
    await this.page.locator(`[data-friend="${other.name}"]`).waitFor();
  }

  async openChatWith(other) {
    await this.section('contacts');
    await this.page.getByRole('button', { name: `Message ${other.nickname}` }).click();
    await this.page.getByRole('heading', { name: other.nickname, level: 2 }).waitFor();
  }

  async openConversation(title) {
    await this.section('chats');
    await this.page.locator('.conversation', { hasText: title }).click();
    await this.page.getByRole('heading', { name: title, level: 2 }).waitFor();
  }

  async send(text) {
    const box = this.page.getByLabel('Message', { exact: true });
    await box.fill(text);
    await box.press('Enter');
  }

  /** The texts of the open conversation's messages, in order. */
  async texts() {
    return this.page.locator('[data-testid="messages"] .message .text').allInnerTexts();
  }

  async waitForText(text) {
    await this.page.locator('[data-testid="messages"] .message .text', { hasText: text }).first().waitFor();
  }

  /** The delivery state of my message with this text. */
  delivery(text) {
    return this.page.locator('[data-testid="messages"] .message.mine', { hasText: text }).first();
  }

  async screenshot(name) {
    mkdirSync(RESULTS, { recursive: true });
    const path = join(RESULTS, `${name}.png`);
    // Toasts come and go; they are left out of the pictures. Hidden
    // through the CSSOM, because Herald's Content-Security-Policy refuses
    // injected <style> (Playwright's `style` option, and its caret hiding,
    // would count as console errors).
    const toasts = (display) =>
      this.page.evaluate((value) => {
        for (const element of document.querySelectorAll('.toasts')) element.style.display = value;
      }, display);
    await toasts('none');
    await this.page.screenshot({ path, caret: 'initial' });
    await toasts('');
    assert.ok(statSync(path).size > 1000, `screenshot ${name} was written`);
    return path;
  }
}

/** Waits until `fn` returns a truthy value (polling), or fails with `what`. */
export async function eventually(what, fn, timeout = 15000) {
  const until = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (error) {
      last = error;
    }
    if (Date.now() > until) throw new Error(`timed out waiting for ${what} (last: ${last})`);
    await sleep(100);
  }
}

/** Makes two users friends through the UI. */
export async function befriend(a, b) {
  await a.requestFriend(b);
  await b.acceptFriend(a);
  await a.page.locator(`[data-friend="${b.name}"]`).waitFor();
}

/** A small valid PNG (width x height, a colour gradient), built without any image library. */
export async function makePng(width, height) {
  const { deflateSync } = await import('node:zlib');
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    const row = y * (width * 3 + 1);
    raw[row] = 0;
    for (let x = 0; x < width; x++) {
      raw[row + 1 + x * 3] = Math.round((x / width) * 255);
      raw[row + 2 + x * 3] = Math.round((y / height) * 255);
      raw[row + 3 + x * 3] = 200;
    }
  }
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => {
    let c = 0xffffffff;
    for (const byte of buf) c = crcTable[(c ^ byte) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const sum = Buffer.alloc(4);
    sum.writeUInt32BE(crc(body));
    return Buffer.concat([length, body, sum]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // truecolour
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** Starts Herald and a browser for one test file; returns them and a teardown. */
export async function setup() {
  const playwright = await loadPlaywright();
  const herald = await new Herald().start();
  const browsers = await new Browsers(playwright).launch();
  return {
    herald,
    browsers,
    async teardown() {
      await browsers.close();
      await herald.cleanup();
    },
  };
}
