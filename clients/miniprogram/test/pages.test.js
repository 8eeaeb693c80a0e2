// The index, history and favorites pages' logic, loaded with a stand-in
// Page()/getApp(); API calls go to the real server through the stand-in wx.

const test = require('node:test');
const assert = require('node:assert/strict');

const { createWx } = require('./wx-standin.js');
const { loadPage, tap } = require('./page-harness.js');
const env = require('./env.js');
const api = require('../miniprogram/utils/api.js');

function setup(name, label, wxOptions) {
  const wx = createWx(Object.assign({ fakeWechat: env.FAKE_WECHAT, user: env.newUser(label) }, wxOptions || {}));
  api.configure({ wx, baseUrl: env.API || 'http://127.0.0.1:9' });
  const loaded = loadPage(name, { wx });
  loaded.app.globalData.lang = 'en';
  loaded.app.globalData.museum = env.DEMO_MUSEUM;
  loaded.app.ensureLogin = () => api.ensureSession();
  return Object.assign({ wx }, loaded);
}

test('index: photo -> recognition -> the card page gets the answer', { skip: env.needPhotos || env.needLogin }, async () => {
  const [photo] = env.demoPhotos();
  const { page, app, wx } = setup('index', 'index-photo', { chooseMedia: [photo.file] });
  await page.onLoad();
  assert.deepEqual(
    page.data.museums.map((m) => m.id),
    [''].concat((await api.listMuseums('en')).map((m) => m.id)),
  );
  assert.equal(page.data.museums[page.data.museumIndex].id, env.DEMO_MUSEUM);

  await page.takePhoto();
  assert.deepEqual(wx.__called('chooseMedia')[0].mediaType, ['image']);
  const upload = wx.__http.find((h) => h.api === 'uploadFile');
  assert.deepEqual(upload.fields, { museum: env.DEMO_MUSEUM, lang: 'en' });
  assert.match(upload.header.Authorization, /^Bearer /, 'logged in first, so the match goes into the history');
  const { result, lang } = app.globalData.recognition;
  assert.equal(lang, 'en');
  assert.equal(result.status, 'matched');
  assert.equal(result.exhibit.id, photo.id);
  assert.equal(wx.__called('navigateTo').at(-1).url, '/pages/card/card?from=recognition');
  assert.equal(wx.__called('showLoading').length, wx.__called('hideLoading').length);
  assert.equal(page.data.busy, false);
});

test('index: a cancelled picker is no error; a failed recognition is shown', { skip: env.needServer }, async () => {
  const cancelled = setup('index', 'index-cancel', { chooseMedia: 'chooseMedia:fail cancel' });
  await cancelled.page.takePhoto();
  assert.equal(cancelled.wx.__http.filter((h) => h.api === 'uploadFile').length, 0);
  assert.equal(cancelled.wx.__called('showToast').length, 0);

  // Not an image: the server says invalid_image; the visitor is told, nothing opens.
  const junk = env.tempFile('junk.jpg', Buffer.from('this is not a photo'));
  const { page, wx } = setup('index', 'index-junk', { chooseMedia: [junk] });
  page.setData({ museums: [{ id: env.DEMO_MUSEUM, label: env.DEMO_MUSEUM }], museumIndex: 0 });
  await page.takePhoto();
  assert.equal(wx.__called('navigateTo').length, 0);
  assert.ok(page.data.error.length > 0);
  assert.equal(wx.__called('showModal').length, 1);
});

test('index: search lists the museum exhibits and opens a card', { skip: env.needServer }, async () => {
  const { page, wx } = setup('index', 'index-search');
  await page.onLoad();
  const first = await api.searchExhibits(env.DEMO_MUSEUM, '', 1, { lang: 'en', pageSize: 1 });
  const title = first.items[0].title;
  page.onQueryInput({ detail: { value: title } });
  await page.onSearch();
  assert.ok(page.data.results.some((r) => r.id === first.items[0].id), JSON.stringify(page.data.results));
  const row = page.data.results[0];
  await page.openExhibit(tap({ id: row.id, museum: row.museum }));
  assert.equal(wx.__called('navigateTo').at(-1).url, `/pages/card/card?id=${row.id}&museum=${row.museum}&lang=en`);
});

test('history and favorites pages list the visitor entries; favorites can be removed', { skip: env.needLogin }, async () => {
  const history = setup('history', 'lists');
  const { wx } = history;
  await api.login();
  const search = await api.searchExhibits(env.DEMO_MUSEUM, '', 1, { lang: 'en', pageSize: 2 });
  const [a, b] = search.items;
  await api.addHistory(a.museum, a.id);
  await api.addFavorite(b.museum, b.id);

  await history.page.onShow();
  assert.equal(history.page.data.error, '');
  const row = history.page.data.items.find((i) => i.id === a.id);
  assert.ok(row, JSON.stringify(history.page.data.items));
  assert.equal(row.title, a.title);
  assert.equal(row.museum, a.museum);
  assert.match(row.when, /^\d{4}-\d\d-\d\d \d\d:\d\d$/);
  await history.page.open(tap({ id: row.id, museum: row.museum, unpublished: row.unpublished }));
  assert.equal(wx.__called('navigateTo').at(-1).url, `/pages/card/card?id=${a.id}&museum=${a.museum}&lang=en`);

  const favorites = loadPage('favorites', { wx, app: history.app });
  await favorites.page.onShow();
  assert.deepEqual(
    favorites.page.data.items.map((i) => i.id),
    [b.id],
  );
  await favorites.page.remove(tap({ id: b.id, museum: b.museum }));
  assert.deepEqual(favorites.page.data.items, []);
  assert.deepEqual((await api.favorites()).items, []);
  await favorites.page.onPullDownRefresh();
  assert.deepEqual(favorites.page.data.items, []);
  assert.equal(wx.__called('stopPullDownRefresh').length, 1);
});

test('history page without a server: the error is shown, not swallowed', async () => {
  const { page } = setup('history', 'offline', { fakeWechat: '' });
  api.configure({ wx: global.wx, baseUrl: 'http://127.0.0.1:9' });
  await page.onShow();
  assert.ok(page.data.error.length > 0);
  assert.equal(page.data.loading, false);
  assert.deepEqual(page.data.items, []);
});
