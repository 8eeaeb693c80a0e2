// utils/api.js against the real server, through the stand-in `wx` that makes
// the real HTTP calls the platform would (multipart upload, string body).

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');

const { createWx } = require('./wx-standin.js');
const env = require('./env.js');
const { createApi, ApiError, SESSION_KEY } = require('../miniprogram/utils/api.js');

function client(label, wxOptions) {
  const wx = createWx(Object.assign({ fakeWechat: env.FAKE_WECHAT, user: env.newUser(label) }, wxOptions || {}));
  return { wx, api: createApi({ wx, baseUrl: env.API }) };
}

const uploads = (wx) => wx.__http.filter((h) => h.api === 'uploadFile');
const requests = (wx, re) => wx.__http.filter((h) => h.api === 'request' && re.test(h.url));
const bearer = (entry) => entry.header.Authorization;

test('login: wx.login code -> POST /session; the token is stored and sent', { skip: env.needLogin }, async () => {
  const { wx, api } = client('login');
  assert.equal(api.session(), null);
  const session = await api.login();
  assert.equal(wx.__called('login').length, 1);
  assert.ok(typeof session.token === 'string' && session.token.length > 10, JSON.stringify(session));
  assert.equal(wx.getStorageSync(SESSION_KEY).token, session.token);
  const [post] = requests(wx, /\/api\/v1\/session$/);
  assert.equal(post.method, 'POST');
  assert.equal(JSON.parse(post.body).code.length > 0, true);

  const list = await api.history();
  assert.ok(Array.isArray(list.items));
  const [get] = requests(wx, /\/api\/v1\/me\/history/);
  assert.equal(bearer(get), `Bearer ${session.token}`);
  // No second login: the stored session was used.
  assert.equal(wx.__called('login').length, 1);
  // The server knows the token.
  const direct = await env.directGet('/api/v1/me/history', session.token);
  assert.equal(direct.status, 200, JSON.stringify(direct.body));
});

test(
  'recognize: a demo photo goes up as multipart `file` + museum/lang; the string body is parsed into the card',
  { skip: env.needPhotos },
  async () => {
    const photos = env.demoPhotos();
    assert.ok(photos.length > 0, `no <id>-visitor.jpg in ${env.DEMO_PHOTOS}`);
    const { wx, api } = client('recognize');
    for (const photo of photos) {
      const result = await api.recognize(photo.file, { museum: env.DEMO_MUSEUM, lang: 'en' });
      const sent = uploads(wx).at(-1);
      assert.equal(sent.file.name, 'file');
      assert.equal(sent.file.bytes, fs.statSync(photo.file).size);
      assert.deepEqual(sent.fields, { museum: env.DEMO_MUSEUM, lang: 'en' });
      assert.equal(bearer(sent), undefined, 'no session, no token');
      // wx.uploadFile hands the body over as a string; the module parsed it.
      assert.equal(sent.dataType, 'string');
      assert.equal(sent.statusCode, 200);
      assert.equal(typeof result, 'object');

      assert.equal(result.status, 'matched', JSON.stringify(result));
      assert.equal(result.exhibit.id, photo.id);
      assert.equal(result.exhibit.museum, env.DEMO_MUSEUM);
      assert.ok(result.exhibit.title.length > 0);

      // The same request made directly answers the same exhibit.
      const direct = await env.directRecognize(photo.file, { museum: env.DEMO_MUSEUM, lang: 'en' });
      assert.equal(direct.status, 200);
      assert.equal(direct.body.errcode, 0);
      assert.equal(direct.body.data.status, result.status);
      assert.deepEqual(direct.body.data.exhibit, result.exhibit);
      assert.equal(direct.body.data.bundle_version, result.bundle_version);
    }
  },
);

test('recognize: an unknown museum is an ApiError with the documented codes', { skip: env.needPhotos }, async () => {
  const [photo] = env.demoPhotos();
  const { api } = client('unknown-museum');
  const err = await api.recognize(photo.file, { museum: 'no-such-museum', lang: 'en' }).then(
    () => assert.fail('an unknown museum must not succeed'),
    (e) => e,
  );
  assert.ok(err instanceof ApiError, String(err));
  assert.ok(err instanceof Error);
  // openapi.json: "Unknown museum: 404 museum_not_found"; server/src/error.rs: errcode 40402.
  assert.equal(err.code, 'museum_not_found');
  assert.equal(err.status, 404);
  assert.equal(err.errcode, 40402);
  assert.ok(err.message.length > 0);
  assert.ok(typeof err.requestId === 'string' && err.requestId.length > 0);
  // As a direct request says.
  const direct = await env.directRecognize(photo.file, { museum: 'no-such-museum' });
  assert.equal(direct.status, err.status);
  assert.equal(direct.body.errcode, err.errcode);
  assert.equal(direct.body.error, err.code);
});

test('history: a logged-in recognition puts the exhibit into the visitor history', { skip: env.needPhotos || env.needLogin }, async () => {
  const [photo] = env.demoPhotos();
  const { wx, api } = client('history');
  const session = await api.login();
  const result = await api.recognize(photo.file, { museum: env.DEMO_MUSEUM, lang: 'zh' });
  assert.equal(result.status, 'matched', JSON.stringify(result));
  assert.equal(bearer(uploads(wx).at(-1)), `Bearer ${session.token}`);

  const list = await api.history({ lang: 'zh' });
  const entry = list.items.find((i) => i.exhibit_id === result.exhibit.id && i.museum === result.exhibit.museum);
  assert.ok(entry, JSON.stringify(list));
  assert.equal(entry.exhibit.title, result.exhibit.title);
  assert.equal(typeof entry.at, 'number');
  // As the server says directly.
  const direct = await env.directGet('/api/v1/me/history?lang=zh', session.token);
  assert.deepEqual(direct.body.data, list);
});

test('favorites: add, list, remove, list again', { skip: env.needLogin }, async () => {
  const { api } = client('favorites');
  const page = await api.searchExhibits(env.DEMO_MUSEUM, '', 1, { lang: 'en', pageSize: 2 });
  const exhibit = page.items[0];
  assert.ok(exhibit, JSON.stringify(page));

  const added = await api.addFavorite(exhibit.museum, exhibit.id);
  assert.equal(added.added, exhibit.id);
  assert.equal(added.museum, exhibit.museum);
  let list = await api.favorites({ lang: 'en' });
  const entry = list.items.find((i) => i.exhibit_id === exhibit.id && i.museum === exhibit.museum);
  assert.ok(entry, JSON.stringify(list));
  assert.equal(entry.exhibit.title, exhibit.title);

  assert.deepEqual(await api.removeFavorite(exhibit.museum, exhibit.id), { removed: true });
  list = await api.favorites();
  assert.equal(list.items.some((i) => i.exhibit_id === exhibit.id), false, JSON.stringify(list));
  // Removing it again: nothing was there.
  assert.deepEqual(await api.removeFavorite(exhibit.museum, exhibit.id), { removed: false });
});

test('an invalid stored token: one re-login, then the call succeeds', { skip: env.needLogin }, async () => {
  const { wx, api } = client('relogin');
  // A token the server never issued (or one whose session is gone).
  wx.setStorageSync(SESSION_KEY, { token: 'forged-token-0123456789', baseUrl: env.API, expiresAt: 0 });
  const list = await api.favorites();
  assert.ok(Array.isArray(list.items));
  assert.equal(wx.__called('login').length, 1, 'exactly one re-login');
  const calls = requests(wx, /\/api\/v1\/(me\/favorites|session)/).map((h) => [h.method, h.url.replace(env.API, ''), h.statusCode]);
  assert.deepEqual(calls, [
    ['GET', '/api/v1/me/favorites', 401],
    ['POST', '/api/v1/session', 200],
    ['GET', '/api/v1/me/favorites', 200],
  ]);
  const fresh = wx.getStorageSync(SESSION_KEY).token;
  assert.notEqual(fresh, 'forged-token-0123456789');
  assert.equal(bearer(requests(wx, /me\/favorites/).at(-1)), `Bearer ${fresh}`);

  // An expired stored session is not even sent: a login comes first.
  wx.setStorageSync(SESSION_KEY, { token: fresh, baseUrl: env.API, expiresAt: Date.now() - 1000 });
  await api.history();
  assert.equal(wx.__called('login').length, 2);
  assert.equal(requests(wx, /me\/history/).length, 1);
});

test('an invalid token on an upload: one re-login and the photo goes up again', { skip: env.needPhotos || env.needLogin }, async () => {
  const [photo] = env.demoPhotos();
  const { wx, api } = client('relogin-upload');
  wx.setStorageSync(SESSION_KEY, { token: 'forged-token-upload', baseUrl: env.API, expiresAt: 0 });
  const result = await api.recognize(photo.file, { museum: env.DEMO_MUSEUM, lang: 'en' });
  assert.equal(result.status, 'matched');
  assert.deepEqual(
    uploads(wx).map((u) => u.statusCode),
    [401, 200],
  );
  assert.equal(wx.__called('login').length, 1);
});

test('museums, search and a card answer what direct requests answer', { skip: env.needServer }, async () => {
  const { api } = client('browse');
  const museums = await api.listMuseums('en');
  const museum = museums.find((m) => m.id === env.DEMO_MUSEUM);
  assert.ok(museum, JSON.stringify(museums));
  assert.deepEqual(museums, (await env.directGet('/api/v1/museums?lang=en')).body.data.museums);

  const page = await api.searchExhibits(env.DEMO_MUSEUM, '', 1, { lang: 'en', pageSize: 5 });
  assert.ok(page.total > 0 && page.items.length > 0, JSON.stringify(page));
  const id = page.items[0].id;
  const card = await api.getExhibit(id, { museum: env.DEMO_MUSEUM, lang: 'en' });
  const direct = await env.directGet(`/api/v1/exhibits/${id}?museum=${env.DEMO_MUSEUM}&lang=en`);
  assert.deepEqual(card, direct.body.data);

  // A search for a title finds the exhibit.
  const found = await api.searchExhibits(env.DEMO_MUSEUM, card.title, 1, { lang: 'en' });
  assert.ok(found.items.some((i) => i.id === id), JSON.stringify(found));

  const err = await api.getExhibit('no-such-exhibit', { museum: env.DEMO_MUSEUM }).catch((e) => e);
  assert.ok(err instanceof ApiError);
  assert.deepEqual([err.status, err.code], [404, 'exhibit_not_found']);
});

test('WeChat refusing the login (rate limit) is an ApiError with retryAfter from the header', { skip: env.needLogin }, async () => {
  const { wx, api } = client('wechat-limit');
  // The fake WeChat answers the server's next jscode2session with 45011 (rate limit).
  await env.fakeWechatFail('jscode2session', 45011, 1);
  const err = await api.login().catch((e) => e);
  assert.ok(err instanceof ApiError, String(err));
  assert.equal(err.status, 429);
  assert.equal(err.code, 'wechat_rate_limited');
  assert.equal(err.errcode, 42901);
  assert.equal(err.retryAfter, 60);
  assert.equal(api.session(), null, 'nothing stored');
  assert.equal(wx.__called('login').length, 1);
  // And the next attempt logs in.
  const session = await api.login();
  assert.ok(session.token);
});
