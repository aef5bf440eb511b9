// Drives a running Herald over WebSocket with @stomp/stompjs (7.x) in Node.
//
//   node tests/interop/stompjs.mjs ws://127.0.0.1:15674/ws
//
// Prints `ok <scenario>` for every scenario that passed. Exits 1 with the
// reason on the first failure, or when the whole run takes longer than
// GLOBAL_TIMEOUT_MS.

import { Client } from '@stomp/stompjs';
import WebSocket from 'ws';

const url = process.argv[2];
if (!url) {
  console.error('usage: node stompjs.mjs ws://HOST:PORT/PATH');
  process.exit(2);
}

const GLOBAL_TIMEOUT_MS = 30_000;
const STEP_TIMEOUT_MS = 5_000;
// How long "nothing more arrives" is watched for.
const QUIET_MS = 500;
// Destination names unique to this run, so a shared broker cannot mix runs.
const RUN = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;

let currentScenario = '(setup)';

function fail(reason) {
  const text = reason instanceof Error ? reason.stack || reason.message : String(reason);
  console.error(`FAIL ${currentScenario}: ${text}`);
  process.exit(1);
}

setTimeout(() => fail(`global timeout: the run took longer than ${GLOBAL_TIMEOUT_MS} ms`), GLOBAL_TIMEOUT_MS).unref();
process.on('unhandledRejection', (e) => fail(e));
process.on('uncaughtException', (e) => fail(e));

function assert(cond, message) {
  if (!cond) throw new Error(`assertion failed: ${message}`);
}

function assertEq(actual, expected, what) {
  if (actual !== expected) {
    throw new Error(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function describe(frame) {
  const body = frame.isBinaryBody ? `<${frame.binaryBody.length} bytes>` : JSON.stringify(frame.body);
  return `${frame.command} ${JSON.stringify(frame.headers)} body=${body}`;
}

/** Collects MESSAGE frames of one subscription and hands them out in order. */
class Inbox {
  constructor(name) {
    this.name = name;
    this.items = [];
    this.waiters = [];
    this.push = (message) => {
      const waiter = this.waiters.shift();
      if (waiter) waiter(message);
      else this.items.push(message);
    };
  }

  next(what, ms = STEP_TIMEOUT_MS) {
    if (this.items.length > 0) return Promise.resolve(this.items.shift());
    return new Promise((resolve, reject) => {
      const waiter = (message) => {
        clearTimeout(timer);
        resolve(message);
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`${this.name}: timed out after ${ms} ms waiting for ${what}`));
      }, ms);
      this.waiters.push(waiter);
    });
  }

  async none(what, ms = QUIET_MS) {
    await sleep(ms);
    if (this.items.length > 0) {
      throw new Error(`${this.name}: ${what}, but got ${describe(this.items[0])}`);
    }
  }
}

let clientCounter = 0;

/**
 * Connects one stompjs Client. Resolves to { client, connected, socket, closes }
 * once CONNECTED arrived. Any ERROR frame, or a socket that closes while
 * the client is not being deactivated, fails the run.
 */
async function connect(name, overrides = {}) {
  const label = `${name}#${++clientCounter}`;
  const state = { client: null, connected: null, socket: null, closes: [], disconnectReceipt: null, deactivating: false };
  const client = new Client({
    webSocketFactory: () => {
      state.socket = new WebSocket(url, ['v12.stomp', 'v11.stomp', 'v10.stomp']);
      return state.socket;
    },
    connectHeaders: { login: 'guest', passcode: 'guest' },
    heartbeatIncoming: 10000,
    heartbeatOutgoing: 10000,
    reconnectDelay: 0,
    debug: process.env.STOMPJS_DEBUG ? (line) => console.error(`[${label}] ${line}`) : () => {},
    ...overrides,
  });
  state.client = client;
  const connected = new Promise((resolve, reject) => {
    client.onConnect = resolve;
    client.onStompError = (frame) => reject(new Error(`${label}: ERROR frame while connecting: ${describe(frame)}`));
    client.onWebSocketClose = (event) =>
      reject(new Error(`${label}: WebSocket closed while connecting (code ${event.code} ${event.reason || ''})`));
    client.onWebSocketError = (event) =>
      reject(new Error(`${label}: WebSocket error while connecting: ${event.message || event.type || event}`));
  });
  client.activate();
  state.connected = await withTimeout(connected, STEP_TIMEOUT_MS, `${label} CONNECTED`);
  client.onStompError = (frame) => fail(`${label}: unexpected ERROR frame: ${describe(frame)}`);
  client.onWebSocketClose = (event) => {
    state.closes.push(event);
    if (!state.deactivating) fail(`${label}: WebSocket closed unexpectedly (code ${event.code} ${event.reason || ''})`);
  };
  client.onWebSocketError = (event) => {
    if (!state.deactivating) fail(`${label}: WebSocket error: ${event.message || event.type || event}`);
  };
  client.onDisconnect = (frame) => {
    state.disconnectReceipt = frame;
  };
  client.onUnhandledMessage = (message) => fail(`${label}: MESSAGE for no subscription: ${describe(message)}`);
  client.onUnhandledReceipt = (frame) => fail(`${label}: RECEIPT nobody waited for: ${describe(frame)}`);
  client.onUnhandledFrame = (frame) => fail(`${label}: unexpected frame: ${describe(frame)}`);
  return state;
}

async function disconnect(state) {
  state.deactivating = true;
  await withTimeout(state.client.deactivate(), STEP_TIMEOUT_MS, 'deactivate()');
}

let receiptCounter = 0;

/** Registers a receipt watch; returns the id and a promise of the RECEIPT frame. */
function receipt(state, prefix) {
  const id = `${prefix}-${++receiptCounter}`;
  const frame = new Promise((resolve) => state.client.watchForReceipt(id, resolve));
  return { id, frame: withTimeout(frame, STEP_TIMEOUT_MS, `RECEIPT ${id}`) };
}

/** SUBSCRIBE with a receipt, so the subscription is known to be in place. */
async function subscribe(state, destination, inbox, headers = {}) {
  const r = receipt(state, 'sub');
  const subscription = state.client.subscribe(destination, inbox.push, { ...headers, receipt: r.id });
  await r.frame;
  return subscription;
}

/** SEND with a receipt. */
async function publishConfirmed(state, params) {
  const r = receipt(state, 'send');
  state.client.publish({ ...params, headers: { ...(params.headers || {}), receipt: r.id } });
  const frame = await r.frame;
  assertEq(frame.headers['receipt-id'], r.id, 'receipt-id of the SEND receipt');
  return frame;
}

function checkMessage(message, destination, subscriptionId) {
  assertEq(message.command, 'MESSAGE', 'frame command');
  assertEq(message.headers.destination, destination, 'MESSAGE destination');
  assertEq(message.headers.subscription, subscriptionId, 'MESSAGE subscription');
  assert(message.headers['message-id'], `MESSAGE has a message-id header: ${describe(message)}`);
}

// ---------------------------------------------------------------- scenarios

async function scenarioConnect() {
  const c = await connect('connect');
  const headers = c.connected.headers;
  assertEq(headers.version, '1.2', 'CONNECTED version');
  assertEq(c.client.connectedVersion, '1.2', 'client.connectedVersion');
  assert(headers.server && headers.server.length > 0, `CONNECTED carries a server header: ${JSON.stringify(headers)}`);
  assertEq(c.socket.protocol, 'v12.stomp', 'negotiated WebSocket subprotocol');
  const hb = (headers['heart-beat'] || '').split(',').map(Number);
  assert(hb.length === 2 && hb.every((n) => Number.isInteger(n) && n >= 0),
    `CONNECTED heart-beat is "sx,sy": ${JSON.stringify(headers['heart-beat'])}`);
  // We asked for heart-beats both ways; Herald offers them in the default config.
  assert(hb[0] > 0 && hb[1] > 0, `CONNECTED offers heart-beats both ways: ${headers['heart-beat']}`);
  await disconnect(c);
}

async function scenarioTopic() {
  const destination = `/topic/interop-${RUN}`;
  const sub = await connect('topic-sub');
  const pub = await connect('topic-pub');
  const inbox = new Inbox('topic subscriber');
  const subscription = await subscribe(sub, destination, inbox);

  // stompjs un-escapes header values one escape sequence at a time (\r, \n, \c, then \\),
  // so a literal backslash followed by r, n or c does not survive its own
  // decoder; this value avoids that and still needs every escape on the wire.
  const custom = 'a:b\\d line1\nline2 \u00e9\u2713';
  const body = 'hello from stompjs \u00e9\u00e8 \u2603';
  pub.client.publish({
    destination,
    body,
    headers: { 'x-custom': custom, 'x-second': 'two', 'content-type': 'text/plain;charset=utf-8' },
  });
  const m = await inbox.next('the published MESSAGE');
  checkMessage(m, destination, subscription.id);
  assertEq(m.body, body, 'MESSAGE body');
  assertEq(m.headers['x-custom'], custom, 'custom header (escaped :, \\, LF and UTF-8) passed through');
  assertEq(m.headers['x-second'], 'two', 'second custom header');
  assertEq(m.headers['content-type'], 'text/plain;charset=utf-8', 'content-type passed through');
  assertEq(m.headers['content-length'], String(Buffer.byteLength(body, 'utf8')), 'content-length of the MESSAGE');

  // A second message after the first, in order, and nothing else.
  pub.client.publish({ destination, body: 'second' });
  assertEq((await inbox.next('the second MESSAGE')).body, 'second', 'second MESSAGE body');
  await inbox.none('no further MESSAGE was expected');

  // After UNSUBSCRIBE, nothing arrives any more.
  const r = receipt(sub, 'unsub');
  subscription.unsubscribe({ receipt: r.id });
  await r.frame;
  await publishConfirmed(pub, { destination, body: 'after unsubscribe' });
  await inbox.none('nothing is delivered after UNSUBSCRIBE');

  await disconnect(pub);
  await disconnect(sub);
}

async function scenarioQueueAck() {
  const destination = `/queue/interop-ack-${RUN}`;
  const producer = await connect('queue-producer');
  await publishConfirmed(producer, { destination, body: 'm1', headers: { 'x-n': '1' } });
  await publishConfirmed(producer, { destination, body: 'm2', headers: { 'x-n': '2' } });

  // First consumer: ACK m1, NACK m2; m2 must come back marked redelivered.
  const c1 = await connect('queue-consumer-1');
  const inbox1 = new Inbox('queue consumer 1');
  const sub1 = await subscribe(c1, destination, inbox1, { ack: 'client-individual' });
  const m1 = await inbox1.next('m1');
  checkMessage(m1, destination, sub1.id);
  assertEq(m1.body, 'm1', 'first queued message (FIFO)');
  assertEq(m1.headers['x-n'], '1', 'header kept by the queue');
  assert(m1.headers.ack, `client-individual MESSAGE carries an ack header: ${describe(m1)}`);
  const m2 = await inbox1.next('m2');
  assertEq(m2.body, 'm2', 'second queued message (FIFO)');
  assert(m2.headers.redelivered !== 'true', `first delivery of m2 is not marked redelivered: ${describe(m2)}`);

  const ackReceipt = receipt(c1, 'ack');
  m1.ack({ receipt: ackReceipt.id });
  await ackReceipt.frame;
  const nackReceipt = receipt(c1, 'nack');
  m2.nack({ receipt: nackReceipt.id });
  await nackReceipt.frame;

  const again = await inbox1.next('m2 again after NACK');
  assertEq(again.body, 'm2', 'the NACKed message comes back');
  assertEq(again.headers.redelivered, 'true', 'redelivered header of the NACKed message');
  assertEq(again.headers['x-n'], '2', 'headers kept on redelivery');
  await inbox1.none('m1 was ACKed and must not come back');
  // Leave the redelivered m2 unacknowledged and go away: it goes back to the queue.
  await disconnect(c1);

  // Second consumer on a new connection: gets m2 again, never m1.
  const c2 = await connect('queue-consumer-2');
  const inbox2 = new Inbox('queue consumer 2');
  const sub2 = await subscribe(c2, destination, inbox2, { ack: 'client-individual' });
  const back = await inbox2.next('m2 after the first consumer left without ACKing it');
  checkMessage(back, destination, sub2.id);
  assertEq(back.body, 'm2', 'only the unacknowledged message is delivered again');
  assertEq(back.headers.redelivered, 'true', 'redelivered header after reconnect');
  const r = receipt(c2, 'ack');
  back.ack({ receipt: r.id });
  await r.frame;
  await inbox2.none('the ACKed m1 must not be delivered to a new subscriber');
  await disconnect(c2);

  // Third consumer: the queue is empty now.
  const c3 = await connect('queue-consumer-3');
  const inbox3 = new Inbox('queue consumer 3');
  await subscribe(c3, destination, inbox3, { ack: 'client-individual' });
  await inbox3.none('every message was ACKed; the queue must be empty');
  await disconnect(c3);
  await disconnect(producer);
}

async function scenarioQueueClientAck() {
  const destination = `/queue/interop-cumulative-${RUN}`;
  const producer = await connect('cumulative-producer');
  for (const body of ['c1', 'c2', 'c3']) await publishConfirmed(producer, { destination, body });

  // ack: 'client' is cumulative: ACKing c2 acknowledges c1 and c2, not c3.
  const c1 = await connect('cumulative-consumer-1');
  const inbox1 = new Inbox('cumulative consumer 1');
  await subscribe(c1, destination, inbox1, { ack: 'client' });
  const got = [];
  for (const body of ['c1', 'c2', 'c3']) {
    const m = await inbox1.next(body);
    assertEq(m.body, body, 'queue order');
    got.push(m);
  }
  const r = receipt(c1, 'ack');
  got[1].ack({ receipt: r.id });
  await r.frame;
  await disconnect(c1);

  const c2 = await connect('cumulative-consumer-2');
  const inbox2 = new Inbox('cumulative consumer 2');
  await subscribe(c2, destination, inbox2, { ack: 'client' });
  const left = await inbox2.next('c3, the only message not covered by the cumulative ACK');
  assertEq(left.body, 'c3', 'message left after a cumulative ACK of c2');
  const r2 = receipt(c2, 'ack');
  left.ack({ receipt: r2.id });
  await r2.frame;
  await inbox2.none('c1 and c2 were acknowledged cumulatively');
  await disconnect(c2);
  await disconnect(producer);
}

async function scenarioReceipts() {
  const c = await connect('receipts');
  const topicReceipt = await publishConfirmed(c, { destination: `/topic/interop-receipt-${RUN}`, body: 'r' });
  assertEq(topicReceipt.command, 'RECEIPT', 'frame command');
  const queueReceipt = await publishConfirmed(c, { destination: `/queue/interop-receipt-${RUN}`, body: 'r' });
  assertEq(queueReceipt.command, 'RECEIPT', 'frame command');

  // Several receipts in flight at once all come back, each with its own id.
  const pending = [1, 2, 3, 4, 5].map(() => {
    const r = receipt(c, 'burst');
    c.client.publish({ destination: `/topic/interop-receipt-${RUN}`, body: r.id, headers: { receipt: r.id } });
    return r;
  });
  const frames = await Promise.all(pending.map((r) => r.frame));
  frames.forEach((f, i) => assertEq(f.headers['receipt-id'], pending[i].id, 'receipt-id in a burst'));
  await disconnect(c);
}

async function scenarioBinary() {
  const destination = `/topic/interop-binary-${RUN}`;
  const sub = await connect('binary-sub');
  const pub = await connect('binary-pub');
  const inbox = new Inbox('binary subscriber');
  await subscribe(sub, destination, inbox);

  const cases = [];
  // Every byte value, NUL first and in the middle: not valid UTF-8.
  const all = new Uint8Array(512);
  for (let i = 0; i < all.length; i++) all[i] = i % 256;
  cases.push(['all byte values', all]);
  // NUL bytes inside otherwise valid UTF-8 text.
  cases.push(['NULs in UTF-8 text', new TextEncoder().encode('a\u0000b\u0000\u0000c\n\u0000')]);
  // A body that is only NUL.
  cases.push(['single NUL', new Uint8Array([0])]);
  // 200 KiB of pseudo-random bytes.
  const big = new Uint8Array(200 * 1024);
  let x = 0x12345678;
  for (let i = 0; i < big.length; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    big[i] = x & 0xff;
  }
  cases.push(['200 KiB random', big]);

  for (const [name, bytes] of cases) {
    pub.client.publish({ destination, binaryBody: bytes, headers: { 'content-type': 'application/octet-stream' } });
    const m = await inbox.next(`binary MESSAGE (${name})`);
    const got = m.binaryBody;
    assertEq(m.headers['content-type'], 'application/octet-stream', `content-type (${name})`);
    assertEq(m.headers['content-length'], String(bytes.length), `content-length (${name})`);
    assertEq(got.length, bytes.length, `body length (${name})`);
    const at = bytes.findIndex((b, i) => got[i] !== b);
    assert(at === -1, `body differs at byte ${at} (${name}): sent ${bytes[at]}, got ${got[at]}`);
  }
  await disconnect(pub);
  await disconnect(sub);
}

async function scenarioTransactions() {
  const destination = `/queue/interop-tx-${RUN}`;
  const sub = await connect('tx-sub');
  const pub = await connect('tx-pub');
  const inbox = new Inbox('transaction subscriber');
  await subscribe(sub, destination, inbox, { ack: 'client-individual' });

  // Aborted: never delivered.
  const aborted = pub.client.begin();
  assert(aborted.id, 'begin() returns a transaction id');
  pub.client.publish({ destination, body: 'aborted', headers: { transaction: aborted.id } });
  aborted.abort();

  // Committed: nothing before COMMIT, both messages in order after it.
  const committed = pub.client.begin();
  pub.client.publish({ destination, body: 'committed-1', headers: { transaction: committed.id } });
  pub.client.publish({ destination, body: 'committed-2', headers: { transaction: committed.id } });
  await inbox.none('nothing may be delivered before COMMIT');
  committed.commit();
  const first = await inbox.next('committed-1');
  assertEq(first.body, 'committed-1', 'first committed message (the aborted one must not arrive)');
  const second = await inbox.next('committed-2');
  assertEq(second.body, 'committed-2', 'second committed message');
  await inbox.none('the aborted message must never arrive');

  // ACK inside a transaction: an aborted ACK is as if never sent, a committed one counts.
  const ackTx = sub.client.begin();
  first.ack({ transaction: ackTx.id });
  second.ack({ transaction: ackTx.id });
  ackTx.abort();
  const ackTx2 = sub.client.begin();
  first.ack({ transaction: ackTx2.id });
  second.ack({ transaction: ackTx2.id });
  ackTx2.commit();
  // The RECEIPT of DISCONNECT confirms the server has processed every frame before it.
  await disconnect(sub);

  const again = await connect('tx-sub-again');
  const inbox2 = new Inbox('transaction subscriber after reconnect');
  await subscribe(again, destination, inbox2, { ack: 'client-individual' });
  await inbox2.none('both messages were ACKed in a committed transaction');
  await disconnect(again);
  await disconnect(pub);
}

async function scenarioDeactivate() {
  const c = await connect('deactivate');
  const inbox = new Inbox('deactivate');
  await subscribe(c, `/topic/interop-bye-${RUN}`, inbox);
  const socket = c.socket;
  await disconnect(c);
  assert(c.disconnectReceipt, 'onDisconnect was called with the RECEIPT of DISCONNECT');
  assertEq(c.disconnectReceipt.command, 'RECEIPT', 'frame that ended the session');
  assert(/^close-/.test(c.disconnectReceipt.headers['receipt-id'] || ''),
    `RECEIPT answers the DISCONNECT receipt: ${describe(c.disconnectReceipt)}`);
  assertEq(c.client.connected, false, 'client.connected after deactivate()');
  assertEq(c.client.active, false, 'client.active after deactivate()');
  if (socket.readyState !== WebSocket.CLOSED) {
    await withTimeout(new Promise((resolve) => socket.once('close', resolve)), STEP_TIMEOUT_MS, 'the socket to close');
  }
  assertEq(socket.readyState, WebSocket.CLOSED, 'socket state after deactivate()');
}

// Needs a broker whose CONNECTED offers heart-beats of at most HB_MS both ways
// (tests/interop.rs starts Herald with 1000 ms).
async function scenarioHeartbeats() {
  const HB_MS = 1000;
  const IDLE_MS = 4000;
  let pongs = 0;
  let pings = 0;
  let lost = false;
  const c = await connect('heart-beats', {
    heartbeatIncoming: HB_MS,
    heartbeatOutgoing: HB_MS,
    onHeartbeatLost: () => { lost = true; },
    debug: (line) => {
      if (line === '<<< PONG') pongs++;
      if (line === '>>> PING') pings++;
      if (process.env.STOMPJS_DEBUG) console.error(`[heart-beats] ${line}`);
    },
  });
  const [sx, sy] = (c.connected.headers['heart-beat'] || '0,0').split(',').map(Number);
  assert(sx > 0 && sx <= HB_MS && sy > 0 && sy <= HB_MS,
    `this scenario needs a broker offering heart-beats <= ${HB_MS} ms both ways; CONNECTED heart-beat: ${c.connected.headers['heart-beat']}`);
  // Idle: only heart-beats flow. stompjs closes the socket when the server is
  // silent for twice the negotiated period; the server closes it when we are.
  await sleep(IDLE_MS);
  assert(!lost, 'stompjs saw no server heart-beat for twice the negotiated period');
  assert(c.client.connected, 'still connected after an idle period');
  assert(pings >= 2, `stompjs sent heart-beats (${pings})`);
  assert(pongs >= 2, `the server sent heart-beats while the connection was idle (${pongs} in ${IDLE_MS} ms)`);
  // And the session still works.
  await publishConfirmed(c, { destination: `/topic/interop-hb-${RUN}`, body: 'still here' });
  await disconnect(c);
}

const scenarios = [
  ['connect', scenarioConnect],
  ['topic', scenarioTopic],
  ['queue-ack-nack', scenarioQueueAck],
  ['queue-client-ack', scenarioQueueClientAck],
  ['receipts', scenarioReceipts],
  ['binary-body', scenarioBinary],
  ['transactions', scenarioTransactions],
  ['heart-beats', scenarioHeartbeats],
  ['deactivate', scenarioDeactivate],
];

for (const [name, run] of scenarios) {
  currentScenario = name;
  try {
    await run();
  } catch (e) {
    fail(e);
  }
  console.log(`ok ${name}`);
}
console.log(`${scenarios.length} passed, 0 failed`);
process.exit(0);
