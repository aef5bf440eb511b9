// An image uploaded with progress shows inline for the other side and
// enlarges on click; a file comes through with a working download.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { befriend, eventually, makePng, setup } from './support.mjs';

let env;
before(async () => {
  env = await setup();
});
after(async () => {
  await env?.teardown();
});

test('an image upload shows for the other side, and a file downloads', async () => {
  const { herald, browsers } = env;
  const alice = await browsers.user('alice', herald);
  const bob = await browsers.user('bob', herald);
  await alice.register();
  await bob.register();
  await befriend(alice, bob);
  await alice.openChatWith(bob);
  await alice.send('Look at this view');
  await bob.openConversation('Alice');
  await bob.waitForText('Look at this view');

  const png = await makePng(320, 200);
  await alice.page.getByTestId('image-input').setInputFiles({ name: 'view.png', mimeType: 'image/png', buffer: png });

  // Alice's own copy and Bob's copy both render the picture.
  for (const user of [alice, bob]) {
    const image = user.page.locator('.message img.message-image[alt="view.png"]');
    await image.waitFor();
    await eventually(`${user.name} sees the decoded image`, () =>
      image.evaluate((img) => img.complete && img.naturalWidth === 320 && img.naturalHeight === 200),
    );
    assert.match(await image.getAttribute('src'), /^blob:/);
  }

  // Click to enlarge; Escape closes.
  await bob.page.getByRole('button', { name: 'Enlarge image view.png' }).click();
  const viewer = bob.page.getByRole('dialog', { name: 'Image view.png' });
  await viewer.waitFor();
  await bob.screenshot('image-viewer');
  await bob.page.keyboard.press('Escape');
  await viewer.waitFor({ state: 'detached' });

  // A file: progress while uploading, then a card with a download button.
  const text = 'Herald packing list\n- boots\n- torch\n'.repeat(2000);
  // (The upload is held back a moment so its progress bar can be seen.)
  await bob.page.route('**/api/files?*', async (route) => {
    await new Promise((resolve) => setTimeout(resolve, 800));
    await route.continue();
  });
  await bob.page.getByTestId('file-input').setInputFiles({ name: 'packing list.txt', mimeType: 'text/plain', buffer: Buffer.from(text) });
  await bob.page.getByRole('progressbar', { name: 'Uploading packing list.txt' }).waitFor();
  const card = alice.page.locator('.file-card', { hasText: 'packing list.txt' });
  await card.waitFor();
  const [download] = await Promise.all([
    alice.page.waitForEvent('download'),
    card.getByRole('button', { name: 'Download packing list.txt' }).click(),
  ]);
  assert.equal(download.suggestedFilename(), 'packing list.txt');
  assert.equal(readFileSync(await download.path(), 'utf8'), text);
  await alice.screenshot('files');

  // The conversation list previews the latest as a file.
  await bob.section('chats');
  assert.match(await bob.page.locator('.conversation', { hasText: 'Alice' }).innerText(), /packing list\.txt/);
  browsers.assertNoErrors();
});
