// Herald goes away mid-conversation and comes back (same port, same data
// directory, so tokens and cursors survive): both pages show the offline
// banner, reconnect on their own, resume from their own positions, and
// every message shows exactly once, in order. Messages typed while Herald
// is down wait in the queue and arrive once; a message whose receipt was
// lost is sent again with its client-msg-id and still shows once.

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

async function expectBoth(alice, bob, expected) {
  for (const user of [alice, bob]) {
    await eventually(`${user.name} to show ${expected.length} messages`, async () => (await user.texts()).length >= expected.length);
    assert.deepEqual(await user.texts(), expected, `${user.name} shows every message once, in order`);
  }
}

test('Herald restarted mid-conversation: both pages reconnect, every message once and in order', async () => {
  const { herald, browsers } = env;
  const alice = await browsers.user('alice', herald);
  const bob = await browsers.user('bob', herald);
  await alice.register();
  await bob.register();
  await befriend(alice, bob);
  await alice.openChatWith(bob);
  await bob.openChatWith(alice);

  const expected = [];
  for (let i = 1; i <= 3; i++) {
    await alice.send(`before restart ${i} from alice`);
    expected.push(`before restart ${i} from alice`);
    await bob.waitForText(`before restart ${i} from alice`);
    await bob.send(`before restart ${i} from bob`);
    expected.push(`before restart ${i} from bob`);
    await alice.waitForText(`before restart ${i} from bob`);
  }
  await expectBoth(alice, bob, expected);

  // A graceful restart.
  browsers.outage = true;
  await herald.stop('SIGTERM');
  await alice.page.getByTestId('offline-banner').waitFor();
  await bob.page.getByTestId('offline-banner').waitFor();
  await alice.screenshot('offline-banner');
  await herald.restart('SIGTERM', 500);
  await alice.waitOnline();
  await bob.waitOnline();
  browsers.outage = false;

  for (let i = 1; i <= 3; i++) {
    await bob.send(`after restart ${i} from bob`);
    expected.push(`after restart ${i} from bob`);
    await alice.waitForText(`after restart ${i} from bob`);
    await alice.send(`after restart ${i} from alice`);
    expected.push(`after restart ${i} from alice`);
    await bob.waitForText(`after restart ${i} from alice`);
  }
  await expectBoth(alice, bob, expected);
  await eventually('read after restart', async () => (await alice.delivery('after restart 3 from alice').getAttribute('data-delivery')) === 'read');

  // A reload resumes from the device cursor and shows the same history.
  await bob.page.reload();
  await bob.waitOnline();
  await bob.openConversation('Alice');
  await expectBoth(alice, bob, expected);
  browsers.assertNoErrors();
});

test('messages typed while Herald is down are sent once it is back, exactly once', async () => {
  const { herald, browsers } = env;
  const [alice, bob] = browsers.users;
  const before = await alice.texts();

  // Herald crashes.
  browsers.outage = true;
  await herald.stop('SIGKILL');
  await alice.page.getByTestId('offline-banner').waitFor();
  await alice.send('typed while offline 1');
  await alice.send('typed while offline 2 ✈️');
  const queued = alice.delivery('typed while offline 1');
  assert.equal(await queued.getAttribute('data-delivery'), 'queued');
  await alice.page.getByTestId('offline-banner').getByText('2 messages will be sent when you are back.').waitFor();
  await alice.screenshot('offline-queued');

  await herald.restart('SIGKILL', 300);
  await alice.waitOnline();
  await bob.waitOnline();
  browsers.outage = false;
  await bob.waitForText('typed while offline 2 ✈️');
  const expected = [...before, 'typed while offline 1', 'typed while offline 2 ✈️'];
  await expectBoth(alice, bob, expected);
  await eventually('the queued messages are read', async () => (await alice.delivery('typed while offline 2').getAttribute('data-delivery')) === 'read');
  browsers.assertNoErrors();
});

test('a message whose receipt was lost is resent with its client-msg-id and shows once', async () => {
  const { browsers } = env;
  const [alice, bob] = browsers.users;
  const before = await alice.texts();

  // Alice's link loses the RECEIPT and her own copy of one message, as if
  // the connection broke right after Herald stored it.
  let link = null;
  let losing = true;
  const sends = [];
  await alice.page.routeWebSocket(/\/ws$/, (ws) => {
    const server = ws.connectToServer();
    link = ws;
    ws.onMessage((message) => {
      const text = typeof message === 'string' ? message : Buffer.from(message).toString();
      if (text.startsWith('SEND') && text.includes('receipt lost')) sends.push(/client-msg-id:([^\n]+)/.exec(text)?.[1]);
      server.send(message);
    });
    server.onMessage((message) => {
      const text = typeof message === 'string' ? message : Buffer.from(message).toString();
      if (losing && (text.startsWith('RECEIPT') || (text.startsWith('MESSAGE') && text.includes('receipt lost')))) return;
      ws.send(message);
    });
  });
  await alice.page.reload();
  await alice.waitOnline();
  await alice.openConversation('Bob');
  await alice.send('sent once, receipt lost');
  await bob.waitForText('sent once, receipt lost');
  const lost = alice.delivery('sent once, receipt lost');
  assert.equal(await lost.getAttribute('data-delivery'), 'sending', 'no receipt: still waiting');

  // The link breaks; Alice reconnects and sends it again with the same
  // client-msg-id; Herald answers with the stored message's receipt.
  losing = false;
  browsers.outage = true;
  await link.close();
  await alice.waitOnline();
  browsers.outage = false;
  await eventually('the resent message to be acknowledged', async () => ['sent', 'delivered', 'read'].includes(await lost.getAttribute('data-delivery')));
  assert.equal(sends.length, 2, 'sent twice');
  assert.ok(sends[0] && sends[0] === sends[1], 'with the same client-msg-id');
  await alice.send('after the lost receipt');
  await bob.waitForText('after the lost receipt');
  await expectBoth(alice, bob, [...before, 'sent once, receipt lost', 'after the lost receipt']);
  browsers.assertNoErrors();
});
