// The card page's logic (pages/card/card.js), loaded with a stand-in Page()
// and getApp(); its API calls go to the real server through the stand-in wx.

const test = require('node:test');
const assert = require('node:assert/strict');

const { createWx } = require('./wx-standin.js');
const { loadPage, tap } = require('./page-harness.js');
const env = require('./env.js');
const api = require('../miniprogram/utils/api.js');
const { cardView } = require('../miniprogram/utils/card.js');

/** A stand-in wx, the API module's default client on it, and the card page loaded. */
function setup(label, options) {
  const o = options || {};
  const wx = createWx({ fakeWechat: env.FAKE_WECHAT, user: env.newUser(label) });
  api.configure({ wx, baseUrl: env.API || 'http://127.0.0.1:9' });
  const loaded = loadPage('card', { wx });
  loaded.app.globalData.lang = o.lang || 'en';
  if (o.recognition) loaded.app.globalData.recognition = { result: o.recognition, lang: o.lang || 'en', museum: '' };
  return Object.assign({ wx }, loaded);
}

test('a matched recognition: the card, its related exhibits and the audio guide', { skip: env.needPhotos }, async () => {
  const [photo] = env.demoPhotos();
  const probe = createWx({});
  const result = await api.createApi({ wx: probe, baseUrl: env.API }).recognize(photo.file, { museum: env.DEMO_MUSEUM, lang: 'en' });
  assert.equal(result.status, 'matched', JSON.stringify(result));
  const exhibit = result.exhibit;

  const { wx, page } = setup('card-matched', { recognition: result });
  await page.onLoad({ from: 'recognition' });
  const { card } = page.data;
  assert.equal(page.data.state, 'card');
  assert.equal(card.id, exhibit.id);
  assert.equal(card.title, exhibit.title);
  assert.equal(card.introduction, exhibit.introduction);
  assert.equal(card.period, exhibit.period || '');
  assert.equal(card.maker, exhibit.maker || '');
  assert.equal(page.data.confidence, Math.round(result.confidence * 100));
  // The card's language, when the server says it: English was asked for and the demo has English texts.
  assert.equal(card.lang, exhibit.lang || '');
  assert.equal(card.otherLanguage, false);
  // Facts are the card's fields that are there, labelled in the visitor's language.
  for (const key of ['period', 'maker', 'material', 'dimensions', 'gallery']) {
    if (exhibit[key]) assert.ok(card.facts.some((f) => f.key === key && f.value === exhibit[key]), key);
  }
  // The picture: images[0] when it is an absolute URL the <image> can load.
  const first = (exhibit.images || [])[0] || '';
  assert.equal(card.image, /^https?:\/\//.test(first) ? first : '');
  assert.deepEqual(wx.__called('setNavigationBarTitle').at(-1), { title: exhibit.title });

  // Related exhibits have titles: from the card, or from GET /exhibits/{id} when the card has ids only.
  const direct = await env.directGet(`/api/v1/exhibits/${exhibit.id}?museum=${exhibit.museum}&lang=en`);
  const expected = (exhibit.related_exhibits || direct.body.data.related_exhibits || []).map((r) => r.title);
  assert.deepEqual(
    card.related.map((r) => r.title),
    expected,
  );
  assert.ok(card.related.length > 0);

  // The audio guide: one InnerAudioContext on audio_url; play/pause; destroyed when the page goes.
  if (exhibit.audio_url) {
    assert.equal(wx.__audios.length, 1);
    const audio = wx.__audios[0];
    assert.equal(audio.src, exhibit.audio_url);
    assert.deepEqual(page.data.audio, { available: true, playing: false, failed: false });
    page.toggleAudio();
    assert.equal(page.data.audio.playing, true);
    page.toggleAudio();
    assert.equal(page.data.audio.playing, false);
    page.toggleAudio();
    page.onHide();
    assert.deepEqual(audio.actions, ['play', 'pause', 'play', 'pause']);
    page.onUnload();
    assert.equal(audio.destroyed, true);
  } else {
    assert.equal(wx.__audios.length, 0);
  }

  // Tapping a related exhibit opens its card.
  const rel = card.related[0];
  await page.openRelated(tap({ id: rel.id, museum: rel.museum }));
  assert.match(wx.__called('navigateTo').at(-1).url, new RegExp(`^/pages/card/card\\?id=${rel.id}&museum=${rel.museum}`));
});

test('a card opened by id; the audio of a failing source; an unknown id shows the error', { skip: env.needServer }, async () => {
  const { page, wx } = setup('card-by-id');
  const search = await api.searchExhibits(env.DEMO_MUSEUM, '', 1, { lang: 'en', pageSize: 1 });
  const id = search.items[0].id;
  await page.onLoad({ id, museum: env.DEMO_MUSEUM, lang: 'en' });
  assert.equal(page.data.state, 'card');
  const direct = await env.directGet(`/api/v1/exhibits/${id}?museum=${env.DEMO_MUSEUM}&lang=en`);
  assert.equal(page.data.card.title, direct.body.data.title);
  assert.deepEqual(
    page.data.card.related.map((r) => r.id),
    direct.body.data.related_exhibits.map((r) => r.id),
  );
  // No request for related details: the card has the summaries.
  assert.equal(wx.__http.filter((h) => /\/api\/v1\/exhibits\//.test(h.url)).length, 1);

  if (wx.__audios.length) {
    const audio = wx.__audios[0];
    audio.__emit('error', { errMsg: 'play:fail', errCode: 10002 });
    assert.equal(page.data.audio.failed, true);
    assert.ok(wx.__called('showToast').length > 0);
  }
  page.onUnload();
  assert.ok(wx.__audios.every((a) => a.destroyed));

  const other = setup('card-missing');
  await other.page.onLoad({ id: 'no-such-exhibit', museum: env.DEMO_MUSEUM });
  assert.equal(other.page.data.state, 'error');
  assert.ok(other.page.data.error.length > 0);
  assert.equal(other.wx.__audios.length, 0);
});

test('an ambiguous answer shows the exhibits that fit; choosing one loads its card', async () => {
  const alternatives = [
    { id: 'pd-007', museum: env.DEMO_MUSEUM, title: 'Letter to Boyuan', score: 0.61 },
    { id: 'pd-008', museum: env.DEMO_MUSEUM, title: 'Poems Written at Tiaoxi', score: 0.58 },
  ];
  const { page, wx } = setup('card-ambiguous', {
    recognition: { status: 'ambiguous', reason: 'several_exhibits_fit', alternatives, bundle_version: 'v', cached: false },
  });
  await page.onLoad({ from: 'recognition' });
  assert.equal(page.data.state, 'ambiguous');
  assert.equal(page.data.card, null);
  assert.deepEqual(
    page.data.alternatives.map((a) => [a.id, a.museum, a.title, a.score]),
    [
      ['pd-007', env.DEMO_MUSEUM, 'Letter to Boyuan', 61],
      ['pd-008', env.DEMO_MUSEUM, 'Poems Written at Tiaoxi', 58],
    ],
  );
  assert.equal(wx.__audios.length, 0);
  if (env.needServer) return;

  // The visitor picks the second one: its card, from the server; logged in, it goes into the history.
  const search = await api.searchExhibits(env.DEMO_MUSEUM, '', 1, { lang: 'en', pageSize: 2 });
  const chosen = search.items[search.items.length - 1];
  page.setData({ alternatives: [{ key: 'k', id: chosen.id, museum: chosen.museum, title: chosen.title, score: 50 }] });
  if (!env.needLogin) await api.login();
  await page.chooseAlternative(tap({ id: chosen.id, museum: chosen.museum }));
  assert.equal(page.data.state, 'card');
  assert.equal(page.data.card.id, chosen.id);
  assert.equal(page.data.card.title, chosen.title);
  if (!env.needLogin) {
    const history = await api.history();
    assert.ok(history.items.some((i) => i.exhibit_id === chosen.id && i.museum === chosen.museum), JSON.stringify(history));
  }
  page.onUnload();
});

test('no match: the server tips, and "try again" goes back to the camera', { skip: env.needServer }, async () => {
  // A photo of nothing: a plain wall.
  const wall = env.tempFile('wall.png', env.plainPng(480, 360, [200, 190, 180]));
  const result = await api
    .createApi({ wx: createWx({}), baseUrl: env.API })
    .recognize(wall, { museum: env.DEMO_MUSEUM, lang: 'en' });
  assert.equal(result.status, 'no_match', JSON.stringify(result));

  const { page, wx } = setup('card-no-match', { recognition: result });
  await page.onLoad({ from: 'recognition' });
  assert.equal(page.data.state, 'no_match');
  assert.deepEqual(page.data.tips, result.tips);
  assert.ok(page.data.tips.length > 0);
  assert.equal(page.data.card, null);
  assert.equal(wx.__audios.length, 0);

  page.tryAgain();
  // Opened from the index page (two pages on the stack) -> back; alone -> the index tab.
  assert.equal(wx.__called('switchTab').length + wx.__called('navigateBack').length, 1);
});

test('no match in an empty collection without tips still says something', async () => {
  const { page } = setup('card-empty', {
    recognition: { status: 'no_match', reason: 'empty_collection', alternatives: [], bundle_version: 'v', cached: false },
  });
  await page.onLoad({ from: 'recognition' });
  assert.equal(page.data.state, 'no_match');
  assert.deepEqual(page.data.tips, [page.data.t.emptyCollection]);
});

test('the extended card (lang, thumbnails, absolute images, related summaries with thumbnails) is used as sent', async () => {
  const card = {
    id: 'x-1',
    museum: 'm',
    accession_number: 'A-1',
    title: '青花瓷瓶',
    lang: 'zh-Hans',
    images: ['https://img.example.com/x-1-1.jpg', 'https://img.example.com/x-1-2.jpg'],
    thumbnails: ['https://img.example.com/x-1-1.thumb.jpg'],
    related: ['x-2'],
    related_exhibits: [
      { id: 'x-2', museum: 'm', title: 'Bowl', period: 'Ming', maker: 'Jingdezhen', thumbnail: 'https://img.example.com/x-2.thumb.jpg', image: 'https://img.example.com/x-2.jpg' },
    ],
  };
  const { page, wx } = setup('card-extended', {
    recognition: { status: 'matched', exhibit: card, confidence: 0.9, alternatives: [], bundle_version: 'v', cached: false },
  });
  await page.onLoad({ from: 'recognition' });
  const view = page.data.card;
  assert.equal(view.image, card.images[0]);
  assert.deepEqual(view.thumbnails, card.thumbnails);
  assert.equal(view.lang, 'zh-Hans');
  assert.equal(view.otherLanguage, true, 'asked for English, got Chinese');
  assert.equal(cardView(Object.assign({}, card, { lang: 'ja' }), 'en').otherLanguage, true);
  assert.equal(cardView(Object.assign({}, card, { lang: 'en-GB' }), 'en').otherLanguage, false);
  assert.equal(cardView(Object.assign({}, card, { lang: undefined }), 'en').otherLanguage, false);
  assert.deepEqual(view.related, [
    { key: 'm/x-2', id: 'x-2', museum: 'm', title: 'Bowl', subtitle: 'Ming · Jingdezhen', gallery: '', thumb: 'https://img.example.com/x-2.thumb.jpg' },
  ]);
  assert.equal(view.relatedNeedDetails, false);
  // No audio_url: no audio context, no button.
  assert.equal(wx.__audios.length, 0);
  assert.equal(page.data.audio.available, false);
  // No request for related details, and no favorites lookup without a session.
  assert.equal(wx.__http.length, 0);
  page.previewImage();
  assert.deepEqual(wx.__called('previewImage')[0], { urls: card.images, current: card.images[0] });
  assert.deepEqual(page.onShareAppMessage(), {
    title: card.title,
    path: '/pages/card/card?id=x-1&museum=m&lang=en',
    imageUrl: card.images[0],
  });
});

test('the favorite toggle on the card adds and removes the exhibit', { skip: env.needLogin }, async () => {
  const { page, wx } = setup('card-favorite');
  await api.login();
  const search = await api.searchExhibits(env.DEMO_MUSEUM, '', 1, { lang: 'en', pageSize: 1 });
  const id = search.items[0].id;
  await page.onLoad({ id, museum: env.DEMO_MUSEUM, lang: 'en' });
  assert.equal(page.data.favorite, false);

  await page.toggleFavorite();
  assert.equal(page.data.favorite, true);
  let favorites = await api.favorites();
  assert.ok(favorites.items.some((i) => i.exhibit_id === id && i.museum === env.DEMO_MUSEUM));

  // A new card page for the same exhibit knows it is a favorite.
  const again = loadPage('card', { wx });
  await again.page.onLoad({ id, museum: env.DEMO_MUSEUM, lang: 'en' });
  assert.equal(again.page.data.favorite, true);

  await page.toggleFavorite();
  assert.equal(page.data.favorite, false);
  favorites = await api.favorites();
  assert.equal(favorites.items.some((i) => i.exhibit_id === id), false);
  page.onUnload();
  again.page.onUnload();
});
