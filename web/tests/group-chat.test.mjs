// Three people in a group: create with members, an announcement, messages
// from everyone, an @mention picked from the member list that marks the
// conversation for the mentioned user, and read counts for the sender.

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

test('three users in a group with a mention', async () => {
  const { herald, browsers } = env;
  const alice = await browsers.user('alice', herald);
  const bob = await browsers.user('bob', herald);
  const carol = await browsers.user('carol', herald);
  for (const u of [alice, bob, carol]) await u.register();
  await befriend(alice, bob);
  await befriend(alice, carol);

  // Alice creates the group with both.
  await alice.section('groups');
  await alice.page.getByLabel('Name', { exact: true }).fill('Weekend trip');
  await alice.page.getByLabel('Announcement (optional)').fill('Bring boots');
  await alice.page.getByRole('checkbox', { name: 'Bob' }).check();
  await alice.page.getByRole('checkbox', { name: 'Carol' }).check();
  await alice.page.getByRole('button', { name: 'Create group' }).click();
  await alice.page.getByRole('heading', { name: 'Weekend trip', level: 2 }).waitFor();
  await alice.page.getByRole('note').filter({ hasText: 'Bring boots' }).waitFor();

  // The others were invited live: the group shows up and they can write.
  for (const u of [bob, carol]) {
    await u.section('chats');
    await u.page.locator('.conversation', { hasText: 'Weekend trip' }).waitFor();
  }
  await alice.send('Who is in for Saturday?');
  await bob.openConversation('Weekend trip');
  await bob.waitForText('Who is in for Saturday?');
  await bob.send('Me! 🙋');
  await alice.waitForText('Me! 🙋');

  // Alice turns to another chat; Carol mentions her with the picker.
  await alice.openChatWith(bob);
  await carol.openConversation('Weekend trip');
  await carol.waitForText('Me! 🙋');
  const box = carol.page.getByLabel('Message', { exact: true });
  await box.pressSequentially('@Ali');
  const picker = carol.page.getByRole('listbox', { name: 'Mention a member' });
  await picker.getByRole('option', { name: /Alice/ }).waitFor();
  await box.press('Enter');
  assert.equal(await box.inputValue(), '@Alice ');
  await box.pressSequentially('see you at 8');
  await box.press('Enter');
  await bob.waitForText('@Alice see you at 8');

  // Alice's list marks the mention; opening the group clears it.
  await alice.section('chats');
  const entry = alice.page.locator('.conversation', { hasText: 'Weekend trip' });
  await entry.locator('.mention-marker').waitFor();
  assert.match(await entry.getAttribute('aria-label'), /you were mentioned/);
  assert.equal((await entry.getByTestId('unread').innerText()).trim(), '1');
  await alice.screenshot('conversation-list-mention');
  await entry.click();
  await alice.waitForText('@Alice see you at 8');
  const mention = alice.page.locator('.message.mentioned', { hasText: 'see you at 8' });
  await mention.locator('.mention').waitFor();
  await entry.locator('.mention-marker').waitFor({ state: 'detached' });
  await alice.send('Great, I will book the cabin 🏕️');
  await carol.waitForText('Great, I will book the cabin');

  // Read counts: both others have read Alice's first message.
  const first = alice.page.locator('.message.mine', { hasText: 'Who is in for Saturday?' });
  await eventually('read by all', async () => (await first.getByTestId('read-count').innerText()) === 'Read by all', 20000);

  // The member panel shows roles; an announcement update reaches the others.
  await alice.page.getByRole('button', { name: 'Group info' }).click();
  const panel = alice.page.locator('#group-panel');
  await panel.locator('.role.owner').waitFor();
  assert.equal(await panel.locator('.member').count(), 3);
  await panel.getByLabel('Announcement').fill('Bring boots and a torch');
  await panel.getByRole('button', { name: 'Save announcement' }).click();
  await bob.page.getByRole('note').filter({ hasText: 'Bring boots and a torch' }).waitFor();
  await alice.screenshot('group-chat');

  // Muting Carol stops her composer; leaving removes the group for Bob.
  await panel.locator('.member', { hasText: 'Carol' }).getByRole('button', { name: 'Mute' }).click();
  await carol.page.getByText('You are muted in this group.').waitFor();
  await bob.page.getByRole('button', { name: 'Group info' }).click();
  await bob.page.getByRole('button', { name: 'Leave group' }).click();
  await bob.page.locator('.conversation', { hasText: 'Weekend trip' }).waitFor({ state: 'detached' });
  await eventually('two members left', async () => (await panel.locator('.member').count()) === 2);

  // Full-text search finds the message and opens its conversation.
  await alice.openChatWith(bob);
  await alice.section('chats');
  await alice.page.getByLabel('Search conversations and messages').fill('cabin');
  const results = alice.page.getByRole('region', { name: 'Messages found' });
  await results.getByText('You: Great, I will book the cabin').click();
  await alice.page.getByRole('heading', { name: 'Weekend trip', level: 2 }).waitFor();

  assert.deepEqual(await carol.texts(), ['Who is in for Saturday?', 'Me! 🙋', '@Alice see you at 8', 'Great, I will book the cabin 🏕️']);
  browsers.assertNoErrors();
});
