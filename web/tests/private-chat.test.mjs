// Two people register, befriend each other and chat both ways; the
// sender's ticks go sent -> delivered -> read, the recipient sees unread
// and typing, and user text is never HTML.

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

test('two users befriend and chat both ways with sent, delivered and read ticks', async () => {
  const { herald, browsers } = env;
  const alice = await browsers.user('alice', herald);
  const bob = await browsers.user('bob', herald);
  await alice.register();
  await bob.register();
  await alice.screenshot('contacts-empty');

  await befriend(alice, bob);
  await alice.screenshot('contacts');

  // Bob leaves: Alice's message is stored but reaches no device of his.
  await bob.page.close();
  await alice.openChatWith(bob);
  await alice.send('Hello Bob 👋');
  const first = alice.delivery('Hello Bob');
  await eventually('the message to be sent', async () => (await first.getAttribute('data-delivery')) === 'sent');
  assert.equal(await first.locator('[data-testid="ticks"]').getAttribute('aria-label'), 'Sent');

  // Bob comes back: his device receives the message and acknowledges it.
  await bob.openPage(herald);
  await bob.waitOnline();
  await eventually('delivered', async () => (await first.getAttribute('data-delivery')) === 'delivered');
  const entry = bob.page.locator('.conversation', { hasText: 'Alice' });
  await entry.getByTestId('unread').waitFor();
  assert.equal((await entry.getByTestId('unread').innerText()).trim(), '1');
  assert.match(await entry.innerText(), /Hello Bob 👋/);
  await bob.screenshot('conversation-list-unread');

  // Bob reads it.
  await bob.openConversation('Alice');
  await bob.waitForText('Hello Bob 👋');
  await eventually('read', async () => (await first.getAttribute('data-delivery')) === 'read');
  assert.equal(await entry.getByTestId('unread').count(), 0);

  // Typing shows on the other side.
  await bob.page.getByLabel('Message', { exact: true }).pressSequentially('Hi Al', { delay: 20 });
  await alice.page.getByTestId('typing').waitFor();
  assert.match(await alice.page.getByTestId('chat-status').innerText(), /typing/);
  await bob.page.getByLabel('Message', { exact: true }).fill('');

  // Both ways, and text that looks like markup stays text.
  await bob.send('Hi Alice! <img src=x onerror="window.pwned=1"> <b>bold?</b>');
  await alice.waitForText('Hi Alice!');
  const reply = alice.page.locator('.message', { hasText: 'Hi Alice!' });
  assert.equal(await reply.locator('img').count(), 0, 'no element made from user text');
  assert.equal(await reply.locator('b').count(), 0);
  assert.match(await reply.locator('.text').innerText(), /<img src=x onerror="window.pwned=1"> <b>bold\?<\/b>/);
  assert.equal(await alice.page.evaluate(() => window.pwned), undefined);

  // Bob's reply is read by Alice at once (her chat is open); Bob's ticks say so.
  const bobs = bob.delivery('Hi Alice!');
  await eventually('bob sees read', async () => (await bobs.getAttribute('data-delivery')) === 'read');

  await alice.send('Lunch at noon? 🍕');
  await bob.waitForText('Lunch at noon?');
  await eventually('read again', async () => (await alice.delivery('Lunch at noon?').getAttribute('data-delivery')) === 'read');
  await bob.send('Sounds good, see https://example.org/menu');
  await alice.waitForText('Sounds good');
  assert.equal(
    await alice.page.locator('.message', { hasText: 'Sounds good' }).locator('a').getAttribute('href'),
    'https://example.org/menu',
  );

  assert.deepEqual(await alice.texts(), [
    'Hello Bob 👋',
    'Hi Alice! <img src=x onerror="window.pwned=1"> <b>bold?</b>',
    'Lunch at noon? 🍕',
    'Sounds good, see https://example.org/menu',
  ]);
  assert.deepEqual(await bob.texts(), await alice.texts());
  await alice.screenshot('private-chat');

  // Recall within the window, and delete-for-me.
  await alice.send('oops, wrong chat');
  await bob.waitForText('oops, wrong chat');
  const oops = alice.page.locator('.message', { hasText: 'oops, wrong chat' });
  await oops.hover();
  await oops.getByRole('button', { name: 'Message actions' }).click();
  await oops.getByRole('menuitem', { name: 'Recall' }).click();
  await bob.page.getByText('Alice recalled a message').waitFor();
  await alice.page.getByText('You recalled a message').waitFor();
  const lunch = bob.page.locator('.message', { hasText: 'Lunch at noon?' });
  await lunch.hover();
  await lunch.getByRole('button', { name: 'Message actions' }).click();
  await lunch.getByRole('menuitem', { name: 'Delete for me' }).click();
  await lunch.waitFor({ state: 'detached' });
  assert.equal((await alice.texts()).length, 4, 'delete-for-me leaves the other side alone');

  // Phone width: the list and the chat take turns.
  await bob.page.setViewportSize({ width: 390, height: 760 });
  await bob.page.getByRole('button', { name: 'Back to conversations' }).click();
  await bob.page.locator('.conversation', { hasText: 'Alice' }).waitFor();
  await bob.page.locator('.conversation', { hasText: 'Alice' }).click();
  await bob.waitForText('Hi Alice!');
  await bob.screenshot('phone-chat');

  browsers.assertNoErrors();
});
