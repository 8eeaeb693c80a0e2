// How utils/api.js turns what goes wrong into ApiErrors: no answer at all
// (a closed port), 503/429 with Retry-After (read from wx.request's headers
// and from wx.uploadFile's onHeadersReceived), a proxy's non-JSON page, a
// wx.login failure, and a server that keeps refusing the session (one
// re-login, not a loop). The answers come from a small local HTTP server
// that speaks the envelope; the stand-in wx talks to it over real HTTP.

const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');

const { createWx } = require('./wx-standin.js');
const env = require('./env.js');
const { createApi, ApiError, SESSION_KEY } = require('../miniprogram/utils/api.js');

/** A local server answering with `handler(req, body)` -> {status, headers, body}. */
async function stub(handler) {
  const seen = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      seen.push({ method: req.method, url: req.url, headers: req.headers, body });
      const answer = handler(req, body);
      res.writeHead(answer.status, answer.headers || { 'content-type': 'application/json' });
      res.end(typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body));
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${server.address().port}`;
  return { base, seen, close: () => new Promise((resolve) => server.close(resolve)) };
}

async function closedPort() {
  const server = http.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return `http://127.0.0.1:${port}`;
}

const photo = () => env.tempFile('photo.png', env.plainPng(96, 96, [120, 110, 100]));
const rejection = (promise) =>
  promise.then(
    (v) => assert.fail(`expected an ApiError, got ${JSON.stringify(v)}`),
    (e) => e,
  );

test('no answer at all (closed port): network_error, for requests and uploads', async () => {
  const base = await closedPort();
  const wx = createWx({});
  const api = createApi({ wx, baseUrl: base });
  for (const call of [() => api.listMuseums('en'), () => api.recognize(photo(), { lang: 'en' })]) {
    const err = await rejection(call());
    assert.ok(err instanceof ApiError, String(err));
    assert.equal(err.code, 'network_error');
    assert.equal(err.errcode, -1);
    assert.equal(err.status, 0);
    assert.match(err.message, /:fail/);
  }
});

test('a photo file that is not there: the upload fails as a network_error, not silently', async () => {
  const wx = createWx({});
  const api = createApi({ wx, baseUrl: await closedPort() });
  const err = await rejection(api.recognize('/nonexistent/photo.jpg', {}));
  assert.equal(err.code, 'network_error');
  assert.match(err.message, /file not found/);
});

test('503 busy and 429 rate_limited: code, errcode, status and retryAfter from Retry-After', async () => {
  const server = await stub((req) =>
    req.url.startsWith('/api/v1/recognize')
      ? {
          status: 503,
          headers: { 'content-type': 'application/json', 'retry-after': '7', 'x-request-id': 'req-503' },
          body: { errcode: 50301, errmsg: 'busy', error: 'busy', request_id: 'req-503' },
        }
      : {
          status: 429,
          headers: { 'content-type': 'application/json', 'Retry-After': '12' },
          body: { errcode: 42900, errmsg: 'too many requests', error: 'rate_limited', request_id: 'req-429' },
        },
  );
  try {
    const wx = createWx({});
    const api = createApi({ wx, baseUrl: server.base });
    // wx.uploadFile: the body is a string, the headers come from the task's onHeadersReceived.
    let err = await rejection(api.recognize(photo(), { museum: 'm', lang: 'en' }));
    assert.deepEqual(
      [err.code, err.errcode, err.status, err.retryAfter, err.requestId, err.message],
      ['busy', 50301, 503, 7, 'req-503', 'busy'],
    );
    // wx.request: parsed body and res.header.
    err = await rejection(api.searchExhibits('m', 'q', 1));
    assert.deepEqual([err.code, err.errcode, err.status, err.retryAfter], ['rate_limited', 42900, 429, 12]);
  } finally {
    await server.close();
  }
});

test('503 without a Retry-After header: retryAfter still says when to try again', async () => {
  const server = await stub(() => ({
    status: 503,
    body: { errcode: 50300, errmsg: 'not ready', error: 'not_ready', request_id: 'r' },
  }));
  try {
    const api = createApi({ wx: createWx({}), baseUrl: server.base });
    const err = await rejection(api.getExhibit('x', {}));
    assert.deepEqual([err.code, err.status, err.retryAfter], ['not_ready', 503, 1]);
  } finally {
    await server.close();
  }
});

test("a proxy's HTML error page: bad_response with the HTTP status", async () => {
  const server = await stub(() => ({
    status: 502,
    headers: { 'content-type': 'text/html' },
    body: '<html><body>502 Bad Gateway</body></html>',
  }));
  try {
    const api = createApi({ wx: createWx({}), baseUrl: server.base });
    for (const call of [() => api.listMuseums(), () => api.recognize(photo(), {})]) {
      const err = await rejection(call());
      assert.deepEqual([err.code, err.errcode, err.status], ['bad_response', -2, 502]);
      assert.match(err.body, /Bad Gateway/);
    }
  } finally {
    await server.close();
  }
});

test("recognize: the balancer's own 502 (its server died with the photo) is sent once more; our answers are final", async () => {
  let calls = 0;
  const server = await stub((req) => {
    calls += 1;
    return calls === 1
      ? { status: 502, headers: { 'content-type': 'text/html' }, body: '<html><body>502 Bad Gateway</body></html>' }
      : { status: 200, body: { errcode: 0, errmsg: 'ok', data: { status: 'no_match', tips: [] } } };
  });
  const busy = await stub(() => ({
    status: 503,
    headers: { 'content-type': 'application/json', 'retry-after': '1' },
    body: { errcode: 50301, errmsg: 'busy', error: 'busy', request_id: 'r' },
  }));
  try {
    const api = createApi({ wx: createWx({}), baseUrl: server.base });
    const result = await api.recognize(photo(), { lang: 'en' });
    assert.equal(result.status, 'no_match');
    assert.equal(server.seen.length, 2, 'sent twice');
    // A 503 busy is the service's own answer (with Retry-After): not sent again.
    const err = await rejection(createApi({ wx: createWx({}), baseUrl: busy.base }).recognize(photo(), {}));
    assert.equal(err.code, 'busy');
    assert.equal(busy.seen.length, 1, 'sent once');
  } finally {
    await server.close();
    await busy.close();
  }
});

test('wx.login failing: wx_login_failed, and no request without a session', async () => {
  const server = await stub(() => ({ status: 200, body: { errcode: 0, errmsg: 'ok', data: {} } }));
  try {
    // No fake WeChat configured: the stand-in's wx.login calls fail.
    const api = createApi({ wx: createWx({}), baseUrl: server.base });
    const err = await rejection(api.favorites());
    assert.deepEqual([err.code, err.errcode, err.status], ['wx_login_failed', -3, 0]);
    assert.equal(server.seen.length, 0);
  } finally {
    await server.close();
  }
});

test('a server that refuses every session: exactly one re-login, then the ApiError', async () => {
  let issued = 0;
  const server = await stub((req, body) => {
    if (req.url === '/fake/login') return { status: 200, body: { code: `code-${issued}` } };
    if (req.url === '/api/v1/session') {
      assert.match(JSON.parse(body.toString()).code, /^code-/);
      issued += 1;
      return { status: 200, body: { errcode: 0, errmsg: 'ok', data: { token: `t${issued}`, expires_in: 3600, openid: 'o' } } };
    }
    return {
      status: 401,
      body: { errcode: 40101, errmsg: 'the session token is unknown or expired', error: 'session_invalid', request_id: 'r' },
    };
  });
  try {
    const wx = createWx({ fakeWechat: server.base });
    const api = createApi({ wx, baseUrl: server.base });
    const err = await rejection(api.history());
    assert.deepEqual([err.code, err.errcode, err.status], ['session_invalid', 40101, 401]);
    assert.deepEqual(
      server.seen.map((s) => `${s.method} ${s.url.split('?')[0]} ${s.headers.authorization || ''}`.trim()),
      [
        'POST /fake/login',
        'POST /api/v1/session',
        'GET /api/v1/me/history Bearer t1',
        'POST /fake/login',
        'POST /api/v1/session',
        'GET /api/v1/me/history Bearer t2',
      ],
    );
    assert.equal(wx.getStorageSync(SESSION_KEY).token, 't2');
  } finally {
    await server.close();
  }
});

test('concurrent calls without a session share one login', async () => {
  let logins = 0;
  const server = await stub((req) => {
    if (req.url === '/fake/login') return { status: 200, body: { code: 'c' } };
    if (req.url === '/api/v1/session') {
      logins += 1;
      return { status: 200, body: { errcode: 0, errmsg: 'ok', data: { token: 'tok', expires_in: 3600 } } };
    }
    return { status: 200, body: { errcode: 0, errmsg: 'ok', data: { items: [], total: 0 } } };
  });
  try {
    const api = createApi({ wx: createWx({ fakeWechat: server.base }), baseUrl: server.base });
    await Promise.all([api.history(), api.favorites(), api.history()]);
    assert.equal(logins, 1);
  } finally {
    await server.close();
  }
});

test('an envelope with errcode 0 on HTTP 200 resolves with data; a body that is not an envelope does not', async () => {
  const server = await stub((req) =>
    req.url.startsWith('/api/v1/museums')
      ? { status: 200, body: { errcode: 0, errmsg: 'ok', data: { museums: [{ id: 'm' }] } } }
      : { status: 200, body: { hello: 'world' } },
  );
  try {
    const api = createApi({ wx: createWx({}), baseUrl: server.base });
    assert.deepEqual(await api.listMuseums(), [{ id: 'm' }]);
    const err = await rejection(api.getExhibit('x', {}));
    assert.deepEqual([err.code, err.status], ['bad_response', 200]);
  } finally {
    await server.close();
  }
});
