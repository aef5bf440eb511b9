// History: a long conversation opens on its newest page and scrolls back
// through older ones; a message lost on the way leaves a seq gap that the
// client fills from history at once (long before Herald would redeliver).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { befriend, eventually, setup } from './support.mjs';

let env;
before(async () => {
  env = await setup();
});
after(async () => {
  await env?.teardown();
});

test('scroll-back through history, and a seq gap filled from history', async () => {
  const { herald, browsers } = env;
  const alice = await browsers.user('alice', herald);
  const bob = await browsers.user('bob', herald);
  await alice.register();
  await bob.register();
  await befriend(alice, bob);

  // Bob's link will lose one message on its way to him.
  await bob.page.routeWebSocket(/\/ws$/, (ws) => {
    const server = ws.connectToServer();
    ws.onMessage((message) => server.send(message));
    server.onMessage((message) => {
      const text = typeof message === 'string' ? message : Buffer.from(message).toString();
      if (text.startsWith('MESSAGE') && text.includes('lost on the way')) return;
      ws.send(message);
    });
  });
  await bob.page.reload();
  await bob.waitOnline();

  await alice.openChatWith(bob);
  const sent = [];
  for (let i = 1; i <= 55; i++) {
    const text = `message number ${String(i).padStart(2, '0')}`;
    await alice.send(text);
    sent.push(text);
    // Herald allows 30 chat frames a second per user.
    await alice.page.waitForTimeout(40);
  }
  await alice.waitForText('message number 55');

  // Bob opens the chat: the newest page, then older ones as he scrolls up.
  await bob.openConversation('Alice');
  await bob.waitForText('message number 55');
  const first = await bob.texts();
  assert.ok(first.length < 55, `one page at first (${first.length})`);
  assert.deepEqual(first, sent.slice(55 - first.length));
  await bob.page.getByLabel('Messages', { exact: true }).evaluate((el) => {
    el.scrollTop = 0;
    el.dispatchEvent(new Event('scroll'));
  });
  await eventually('older messages', async () => (await bob.texts()).length === 55);
  assert.deepEqual(await bob.texts(), sent);
  await bob.page.getByText('This is the start of the conversation.').waitFor();

  // A lost message: the next one shows a gap, which Bob fills from history.
  const started = Date.now();
  await alice.send('lost on the way');
  await alice.send('right after the lost one');
  await bob.waitForText('right after the lost one');
  await bob.waitForText('lost on the way');
  assert.ok(Date.now() - started < 10000, 'filled from history, not by a redelivery');
  const texts = await bob.texts();
  assert.deepEqual(texts.slice(-3), ['message number 55', 'lost on the way', 'right after the lost one']);
  assert.equal(texts.filter((t) => t === 'lost on the way').length, 1);
  browsers.assertNoErrors();
});
