// The museum officer API, as the mini-program calls it.
//
// Every call returns a Promise of the answer's `data` (the server wraps every
// answer in `{errcode, errmsg, data}`) or rejects with an ApiError; nothing
// fails silently. See README.md ("How the API module handles errors").
//
// Usage in pages: `const api = require('../../utils/api.js')`, then
// `api.recognize(path, {museum, lang})`, `api.history()`, ... The module-level
// functions use one default client built from the global `wx` and
// utils/config.js; `api.createApi({wx, baseUrl})` builds another (tests do).

const config = require('./config.js');

// Where the session is kept (wx.setStorageSync).
const SESSION_KEY = 'museum_officer_session';

// Error codes the client makes itself (the server's come from its error table:
// `error` in the body, e.g. museum_not_found with errcode 40402). Client-side
// errcodes are negative so they never collide with the server's.
const NETWORK_ERROR = 'network_error'; // the request never got an HTTP answer (fail callback)
const BAD_RESPONSE = 'bad_response'; // an HTTP answer that is not our JSON envelope (a proxy's page, ...)
const LOGIN_FAILED = 'wx_login_failed'; // wx.login() itself failed or gave no code
const CLIENT_ERRCODES = { [NETWORK_ERROR]: -1, [BAD_RESPONSE]: -2, [LOGIN_FAILED]: -3 };

// A 401 with one of these codes means "log in again": the client does so once
// and repeats the call. (`session_expired` is not in the server's table today;
// it is accepted in case a server names an expired session so.)
const RELOGIN_CODES = ['session_invalid', 'session_expired', 'login_required'];

// When a 429/503 answer carries no readable Retry-After header (wx.uploadFile
// gives no headers unless UploadTask.onHeadersReceived fired), wait this long.
const DEFAULT_RETRY_AFTER_S = { 429: 60, 503: 1 };

/**
 * An API call that did not succeed.
 * - errcode: the envelope's numeric errcode (server: 5 digits, first three are
 *   the HTTP status; client-side: -1 network, -2 bad response, -3 wx.login failed)
 * - code: the stable string code (`error` in the body, or network_error,
 *   bad_response, wx_login_failed)
 * - status: the HTTP status (0 when no answer came)
 * - message: the server's errmsg (5xx messages are generic) or wx's errMsg
 * - requestId: the server's request_id (quote it when reporting a problem)
 * - retryAfter: seconds to wait before trying again (429, 502 wechat_unavailable, 503)
 */
function ApiError(message, fields) {
  const e = this instanceof ApiError ? this : Object.create(ApiError.prototype);
  e.name = 'ApiError';
  e.message = message;
  e.errcode = 0;
  e.code = '';
  e.status = 0;
  Object.assign(e, fields || {});
  if (typeof Error.captureStackTrace === 'function') {
    Error.captureStackTrace(e, ApiError);
  } else {
    e.stack = new Error(message).stack;
  }
  return e;
}
ApiError.prototype = Object.create(Error.prototype, {
  constructor: { value: ApiError, writable: true, configurable: true },
});
ApiError.prototype.toString = function toString() {
  return `ApiError ${this.code} (errcode ${this.errcode}, HTTP ${this.status}): ${this.message}`;
};
ApiError.NETWORK_ERROR = NETWORK_ERROR;
ApiError.BAD_RESPONSE = BAD_RESPONSE;
ApiError.LOGIN_FAILED = LOGIN_FAILED;

function clientError(code, message, extra) {
  return new ApiError(message, Object.assign({ code, errcode: CLIENT_ERRCODES[code], status: 0 }, extra || {}));
}

function headerValue(headers, name) {
  if (!headers) return undefined;
  const wanted = name.toLowerCase();
  for (const key of Object.keys(headers)) {
    if (key.toLowerCase() === wanted) return headers[key];
  }
  return undefined;
}

function parseRetryAfter(value) {
  if (value === undefined || value === null || value === '') return undefined;
  const text = String(value).trim();
  if (/^\d+$/.test(text)) return Number(text);
  const at = Date.parse(text);
  if (!Number.isNaN(at)) return Math.max(0, Math.ceil((at - Date.now()) / 1000));
  return undefined;
}

function parseBody(data) {
  if (typeof data !== 'string') return data;
  try {
    return JSON.parse(data);
  } catch (e) {
    return undefined;
  }
}

/**
 * Turns a wx.request / wx.uploadFile success result into the envelope's data,
 * or throws an ApiError. `res.data` is parsed when it is a string (always the
 * case for wx.uploadFile; for wx.request when the answer was not JSON).
 */
function unwrap(res, headers) {
  const status = res.statusCode;
  const body = parseBody(res.data);
  const hdrs = headers || res.header;
  const retryHeader = parseRetryAfter(headerValue(hdrs, 'retry-after'));
  const retryAfter = retryHeader !== undefined ? retryHeader : DEFAULT_RETRY_AFTER_S[status];
  const requestId = headerValue(hdrs, 'x-request-id');
  const ok = status >= 200 && status < 300;
  if (body && typeof body === 'object' && typeof body.errcode === 'number') {
    if (body.errcode === 0 && ok) return body.data;
    if (body.errcode !== 0) {
      const fields = {
        errcode: body.errcode,
        code: typeof body.error === 'string' && body.error ? body.error : `http_${status}`,
        status,
        requestId: body.request_id || requestId,
      };
      if (retryAfter !== undefined) fields.retryAfter = retryAfter;
      throw new ApiError(body.errmsg || `HTTP ${status}`, fields);
    }
  }
  const text = typeof res.data === 'string' ? res.data : JSON.stringify(res.data);
  const fields = { status, requestId, body: String(text).slice(0, 200) };
  if (retryAfter !== undefined) fields.retryAfter = retryAfter;
  throw clientError(BAD_RESPONSE, `unexpected answer from the server (HTTP ${status})`, fields);
}

function query(params) {
  const parts = [];
  for (const key of Object.keys(params || {})) {
    const value = params[key];
    if (value === undefined || value === null || value === '') continue;
    parts.push(`${encodeURIComponent(key)}=${encodeURIComponent(String(value))}`);
  }
  return parts.length ? `?${parts.join('&')}` : '';
}

const seg = encodeURIComponent;

/**
 * A client for one server.
 * options: wx (the platform object), baseUrl, and optionally storageKey,
 * requestTimeoutMs, uploadTimeoutMs.
 */
function createApi(options) {
  const w = options.wx;
  if (!w) throw new Error('createApi needs the wx object');
  const base = String(options.baseUrl || '').replace(/\/+$/, '');
  const storageKey = options.storageKey || SESSION_KEY;
  const requestTimeout = options.requestTimeoutMs || config.requestTimeoutMs;
  const uploadTimeout = options.uploadTimeoutMs || config.uploadTimeoutMs;
  let loginInFlight = null;

  function session() {
    let s;
    try {
      s = w.getStorageSync(storageKey);
    } catch (e) {
      return null;
    }
    if (!s || typeof s !== 'object' || !s.token || s.baseUrl !== base) return null;
    if (s.expiresAt && Date.now() >= s.expiresAt) return null;
    return s;
  }

  function clearSession() {
    try {
      w.removeStorageSync(storageKey);
    } catch (e) {
      // Nothing stored: nothing to clear.
    }
  }

  function wxLogin() {
    return new Promise((resolve, reject) => {
      w.login({
        timeout: requestTimeout,
        success(res) {
          if (res && res.code) resolve(res.code);
          else reject(clientError(LOGIN_FAILED, 'wx.login gave no code', { errMsg: res && res.errMsg }));
        },
        fail(err) {
          const errMsg = (err && err.errMsg) || 'login:fail';
          reject(clientError(LOGIN_FAILED, errMsg, { errMsg }));
        },
      });
    });
  }

  function wxRequest(method, path, body, token) {
    return new Promise((resolve, reject) => {
      const header = { 'content-type': 'application/json' };
      if (token) header.Authorization = `Bearer ${token}`;
      const spec = {
        url: base + path,
        method,
        header,
        timeout: requestTimeout,
        success: (res) => resolve(res),
        fail: (err) => {
          const errMsg = (err && err.errMsg) || 'request:fail';
          reject(clientError(NETWORK_ERROR, errMsg, { errMsg, timeout: /timeout/i.test(errMsg) }));
        },
      };
      if (body !== undefined) spec.data = body;
      w.request(spec);
    }).then((res) => unwrap(res, res.header));
  }

  function wxUpload(path, filePath, formData, token) {
    return new Promise((resolve, reject) => {
      let headers;
      const header = {};
      if (token) header.Authorization = `Bearer ${token}`;
      const task = w.uploadFile({
        url: base + path,
        filePath,
        name: 'file',
        formData,
        header,
        timeout: uploadTimeout,
        success: (res) => resolve({ res, headers: headers || res.header }),
        fail: (err) => {
          const errMsg = (err && err.errMsg) || 'uploadFile:fail';
          reject(clientError(NETWORK_ERROR, errMsg, { errMsg, timeout: /timeout/i.test(errMsg) }));
        },
      });
      // uploadFile's success result has no headers; the task reports them (Retry-After, x-request-id).
      if (task && typeof task.onHeadersReceived === 'function') {
        task.onHeadersReceived((r) => {
          headers = r && r.header;
        });
      }
    }).then(({ res, headers }) => unwrap(res, headers));
  }

  /** wx.login() -> POST /api/v1/session {code}; stores and returns the session. */
  function login() {
    if (loginInFlight) return loginInFlight;
    const attempt = wxLogin()
      .then((code) => wxRequest('POST', '/api/v1/session', { code }))
      .then((data) => {
        if (!data || typeof data.token !== 'string' || !data.token) {
          throw clientError(BAD_RESPONSE, 'the session answer has no token');
        }
        const s = {
          token: data.token,
          openid: data.openid,
          // A minute early, so a call never goes out with a token about to lapse.
          expiresAt: data.expires_in ? Date.now() + Math.max(0, data.expires_in - 60) * 1000 : 0,
          baseUrl: base,
        };
        w.setStorageSync(storageKey, s);
        return s;
      });
    loginInFlight = attempt.then(
      (s) => {
        loginInFlight = null;
        return s;
      },
      (err) => {
        loginInFlight = null;
        throw err;
      },
    );
    return loginInFlight;
  }

  /** The stored session, or a new one. */
  function ensureSession() {
    const s = session();
    return s ? Promise.resolve(s) : login();
  }

  /**
   * Runs `send(token)`. auth: 'none' (no token), 'optional' (the stored token
   * if any), 'required' (log in first when there is none). A 401 asking for a
   * login (session_invalid, ...) on a call that sent a token, or on a
   * 'required' call, is answered by logging in again once and repeating the call.
   */
  async function withSession(auth, send) {
    if (auth === 'none') return send(null);
    let s = auth === 'required' ? await ensureSession() : session();
    try {
      return await send(s ? s.token : null);
    } catch (err) {
      const relogin =
        err instanceof ApiError && err.status === 401 && RELOGIN_CODES.indexOf(err.code) >= 0 && (s || auth === 'required');
      if (!relogin) throw err;
      clearSession();
      s = await login();
      return send(s.token);
    }
  }

  function list(name, opts) {
    const o = opts || {};
    const path = `/api/v1/me/${seg(name)}${query({ offset: o.offset, limit: o.limit, lang: o.lang })}`;
    return withSession('required', (token) => wxRequest('GET', path, undefined, token));
  }

  function addTo(name, museum, id) {
    const body = { exhibit_id: String(id) };
    if (museum) body.museum = String(museum);
    return withSession('required', (token) => wxRequest('POST', `/api/v1/me/${seg(name)}`, body, token));
  }

  function removeFrom(name, museum, id) {
    const path = `/api/v1/me/${seg(name)}/${seg(id)}${query({ museum })}`;
    return withSession('required', (token) => wxRequest('DELETE', path, undefined, token));
  }

  return {
    baseUrl: base,
    session,
    clearSession,
    login,
    ensureSession,

    /** DELETE /api/v1/session; forgets the token whatever the answer. */
    logout() {
      const s = session();
      clearSession();
      if (!s) return Promise.resolve({ logged_out: false });
      return wxRequest('DELETE', '/api/v1/session', undefined, s.token);
    },

    /**
     * POST /api/v1/recognize: the photo at `filePath` (a wx.chooseMedia temp
     * path) as multipart field `file`, with `museum` and `lang` fields. Sends
     * the session token when there is one (the match goes into the visitor's
     * history); anonymous otherwise. Resolves with the Recognition
     * ({status: matched|ambiguous|no_match, exhibit, alternatives, tips, ...}).
     */
    recognize(filePath, opts) {
      const o = opts || {};
      const formData = {};
      if (o.museum) formData.museum = String(o.museum);
      if (o.lang) formData.lang = String(o.lang);
      const once = () => withSession('optional', (token) => wxUpload('/api/v1/recognize', filePath, formData, token));
      // The photo got no answer from the service: the connection dropped
      // mid-upload, or the load balancer's own 502 (the server it chose went
      // away with the photo). Sent once more; another server answers.
      return once().catch((e) => {
        const lost = (e.code === NETWORK_ERROR && !e.timeout) || (e.code === BAD_RESPONSE && e.status === 502);
        if (!lost) throw e;
        return once();
      });
    },

    /** GET /api/v1/museums: the museums (array of {id, exhibits, galleries, name?}). */
    listMuseums(lang) {
      return wxRequest('GET', `/api/v1/museums${query({ lang })}`).then((d) => (d && d.museums) || []);
    },

    /** GET /api/v1/museums/{museum}/exhibits: {items, page, page_size, total}. */
    searchExhibits(museum, q, page, opts) {
      const o = opts || {};
      const path = `/api/v1/museums/${seg(museum)}/exhibits${query({ q, page, page_size: o.pageSize, lang: o.lang })}`;
      return wxRequest('GET', path);
    },

    /** GET /api/v1/exhibits/{id}: the card, with related_exhibits. */
    getExhibit(id, opts) {
      const o = opts || {};
      return wxRequest('GET', `/api/v1/exhibits/${seg(id)}${query({ museum: o.museum, lang: o.lang })}`);
    },

    /** GET /api/v1/me/history: {items: [{exhibit_id, museum, at, exhibit?}], total}, newest first. */
    history(opts) {
      return list('history', opts);
    },

    /** GET /api/v1/me/favorites: as history. */
    favorites(opts) {
      return list('favorites', opts);
    },

    /** POST /api/v1/me/favorites {exhibit_id, museum}: {added, museum}. */
    addFavorite(museum, id) {
      return addTo('favorites', museum, id);
    },

    /** DELETE /api/v1/me/favorites/{id}?museum=: {removed} (false: it was not there). */
    removeFavorite(museum, id) {
      return removeFrom('favorites', museum, id);
    },

    /** POST /api/v1/me/history: e.g. the alternative a visitor picked after an ambiguous answer. */
    addHistory(museum, id) {
      return addTo('history', museum, id);
    },
  };
}

// The default client: the global `wx` and utils/config.js, made on first use.
let current = null;

function globalWx() {
  // eslint-disable-next-line no-undef
  return typeof wx !== 'undefined' ? wx : globalThis.wx;
}

function defaultApi() {
  if (!current) current = createApi({ wx: globalWx(), baseUrl: config.baseUrl(globalWx()) });
  return current;
}

/** Replaces the default client (options as createApi's; `null`: back to the default). */
function configure(options) {
  current = options ? createApi(Object.assign({ wx: globalWx(), baseUrl: config.baseUrl(globalWx()) }, options)) : null;
  return current;
}

const forward =
  (name) =>
  (...args) =>
    defaultApi()[name](...args);

module.exports = {
  ApiError,
  createApi,
  configure,
  client: defaultApi,
  unwrap,
  SESSION_KEY,
  RELOGIN_CODES,
  NETWORK_ERROR,
  BAD_RESPONSE,
  LOGIN_FAILED,
  session: forward('session'),
  clearSession: forward('clearSession'),
  login: forward('login'),
  ensureSession: forward('ensureSession'),
  logout: forward('logout'),
  recognize: forward('recognize'),
  listMuseums: forward('listMuseums'),
  searchExhibits: forward('searchExhibits'),
  getExhibit: forward('getExhibit'),
  history: forward('history'),
  favorites: forward('favorites'),
  addFavorite: forward('addFavorite'),
  removeFavorite: forward('removeFavorite'),
  addHistory: forward('addHistory'),
};
