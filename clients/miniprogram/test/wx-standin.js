// A stand-in for the mini-program platform's `wx` object that performs REAL
// HTTP calls the way the platform does:
// - wx.request: JSON body for object data (GET: query string), success for
//   EVERY HTTP status (fail only when no answer came), `res.data` parsed when
//   it is JSON (dataType 'json') else the text, `res.statusCode`, `res.header`;
// - wx.uploadFile: a real multipart/form-data POST with the file read from
//   `filePath` on disk under part `name` and `formData` as text fields;
//   `res.data` is the body as a STRING, `res.statusCode`; no headers in the
//   result, they come through the returned task's onHeadersReceived;
// - wx.login: a one-time code from the fake WeChat API (`POST {fakeWechat}/fake/login`);
// - storage (in memory; a missing key reads as '' as on the platform);
// - wx.createInnerAudioContext: a recorder of what the page did with it;
// - the UI calls pages make (toasts, loading, navigation, modals,
//   chooseMedia), recorded in `wx.__calls` so tests can look at them.
//
// Every network call is recorded in `wx.__http` ({api, method, url, header,
// fields, statusCode, dataType}).

const fs = require('node:fs');
const path = require('node:path');

const MIME = { '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.png': 'image/png', '.webp': 'image/webp', '.heic': 'image/heic' };

function headersObject(headers) {
  const out = {};
  headers.forEach((value, key) => {
    out[key] = value;
  });
  return out;
}

function queryString(data) {
  return Object.keys(data)
    .filter((k) => data[k] !== undefined)
    .map((k) => `${encodeURIComponent(k)}=${encodeURIComponent(String(data[k]))}`)
    .join('&');
}

function failMessage(api, err) {
  if (err && (err.name === 'TimeoutError' || err.name === 'AbortError')) return `${api}:fail timeout`;
  const cause = err && err.cause && (err.cause.code || err.cause.message);
  return `${api}:fail ${cause || (err && err.message) || 'network error'}`;
}

/**
 * options:
 * - fakeWechat: base URL of the fake WeChat API (wx.login fails without it)
 * - user: whose WeChat account wx.login logs in (the fake gives each user its own openid)
 * - appid: for the Referer header the platform sends
 * - envVersion: what wx.getAccountInfoSync() says (develop by default)
 * - chooseMedia: the temp file paths wx.chooseMedia "picks" (array), or an errMsg string to fail with
 * - language: wx.getAppBaseInfo().language (zh_CN by default)
 */
function createWx(options) {
  const o = options || {};
  const storage = new Map();
  const calls = [];
  const http = [];
  const audios = [];
  const referer = `https://servicewechat.com/${o.appid || 'touristappid'}/devtools/page-frame.html`;

  const record = (name, arg) => calls.push({ name, arg });
  const done = (opts, res) => {
    if (opts && typeof opts.success === 'function') opts.success(res);
    if (opts && typeof opts.complete === 'function') opts.complete(res);
  };
  const failed = (opts, res) => {
    if (opts && typeof opts.fail === 'function') opts.fail(res);
    if (opts && typeof opts.complete === 'function') opts.complete(res);
  };
  // The platform calls back asynchronously, never inside the call.
  const later = (fn) => setImmediate(fn);

  const wx = {
    __calls: calls,
    __http: http,
    __audios: audios,
    __storage: storage,
    /** The recorded UI calls named `name`. */
    __called(name) {
      return calls.filter((c) => c.name === name).map((c) => c.arg);
    },

    request(opts) {
      const method = String(opts.method || 'GET').toUpperCase();
      const header = Object.assign({}, opts.header || {});
      const hasType = Object.keys(header).some((k) => k.toLowerCase() === 'content-type');
      if (!hasType) header['content-type'] = 'application/json';
      header.Referer = referer;
      let url = opts.url;
      let body;
      if (opts.data !== undefined && opts.data !== null) {
        if (method === 'GET') {
          const qs = typeof opts.data === 'string' ? opts.data : queryString(opts.data);
          if (qs) url += (url.includes('?') ? '&' : '?') + qs;
        } else if (typeof opts.data === 'string' || opts.data instanceof ArrayBuffer) {
          body = opts.data;
        } else {
          body = JSON.stringify(opts.data);
        }
      }
      const entry = { api: 'request', method, url, header, body };
      http.push(entry);
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), opts.timeout || 60000);
      fetch(url, { method, headers: header, body, signal: controller.signal })
        .then(async (res) => {
          const text = await res.text();
          let data = text;
          if ((opts.dataType || 'json') === 'json') {
            try {
              data = JSON.parse(text);
            } catch (e) {
              data = text;
            }
          }
          entry.statusCode = res.status;
          entry.dataType = typeof data;
          clearTimeout(timer);
          done(opts, { data, statusCode: res.status, header: headersObject(res.headers), cookies: [], errMsg: 'request:ok' });
        })
        .catch((err) => {
          clearTimeout(timer);
          entry.error = failMessage('request', err);
          failed(opts, { errMsg: entry.error, errno: 600001 });
        });
      return { abort: () => controller.abort(), onHeadersReceived() {}, offHeadersReceived() {} };
    },

    uploadFile(opts) {
      const headerCallbacks = [];
      const controller = new AbortController();
      const header = {};
      for (const [k, v] of Object.entries(opts.header || {})) {
        // The platform sets the multipart content type itself.
        if (k.toLowerCase() !== 'content-type') header[k] = v;
      }
      header.Referer = referer;
      const entry = { api: 'uploadFile', method: 'POST', url: opts.url, header, fields: {}, file: null };
      http.push(entry);
      later(async () => {
        let bytes;
        try {
          bytes = fs.readFileSync(opts.filePath);
        } catch (e) {
          entry.error = `uploadFile:fail file not found: ${opts.filePath}`;
          failed(opts, { errMsg: entry.error });
          return;
        }
        const form = new FormData();
        for (const [k, v] of Object.entries(opts.formData || {})) {
          form.append(k, String(v));
          entry.fields[k] = String(v);
        }
        const type = MIME[path.extname(opts.filePath).toLowerCase()] || 'application/octet-stream';
        form.append(opts.name, new Blob([bytes], { type }), path.basename(opts.filePath));
        entry.file = { name: opts.name, filename: path.basename(opts.filePath), bytes: bytes.length, type };
        const timer = setTimeout(() => controller.abort(), opts.timeout || 60000);
        try {
          const res = await fetch(opts.url, { method: 'POST', headers: header, body: form, signal: controller.signal });
          const hdrs = headersObject(res.headers);
          for (const cb of headerCallbacks) cb({ header: hdrs });
          const data = await res.text();
          clearTimeout(timer);
          entry.statusCode = res.status;
          entry.dataType = typeof data;
          done(opts, { data, statusCode: res.status, errMsg: 'uploadFile:ok' });
        } catch (err) {
          clearTimeout(timer);
          entry.error = failMessage('uploadFile', err);
          failed(opts, { errMsg: entry.error, errno: 600001 });
        }
      });
      return {
        abort: () => controller.abort(),
        onHeadersReceived: (cb) => headerCallbacks.push(cb),
        offHeadersReceived: (cb) => {
          const i = headerCallbacks.indexOf(cb);
          if (i >= 0) headerCallbacks.splice(i, 1);
        },
        onProgressUpdate() {},
        offProgressUpdate() {},
      };
    },

    login(opts) {
      record('login', {});
      if (!o.fakeWechat) {
        later(() => failed(opts, { errMsg: 'login:fail no fake WeChat API configured (FAKE_WECHAT)' }));
        return;
      }
      fetch(`${o.fakeWechat.replace(/\/+$/, '')}/fake/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ user: o.user || 'visitor' }),
      })
        .then((res) => res.json())
        .then((body) => done(opts, { code: body.code, errMsg: 'login:ok' }))
        .catch((err) => failed(opts, { errMsg: failMessage('login', err) }));
    },

    setStorageSync(key, value) {
      // The platform stores JSON-serialisable data; a copy, as it would read back.
      storage.set(key, value === undefined ? undefined : JSON.parse(JSON.stringify(value)));
    },
    getStorageSync(key) {
      return storage.has(key) ? JSON.parse(JSON.stringify(storage.get(key))) : '';
    },
    removeStorageSync(key) {
      storage.delete(key);
    },

    createInnerAudioContext() {
      const listeners = {};
      const on = (event) => (cb) => (listeners[event] = listeners[event] || []).push(cb);
      const emit = (event, arg) => (listeners[event] || []).forEach((cb) => cb(arg));
      const ctx = {
        src: '',
        autoplay: false,
        paused: true,
        destroyed: false,
        actions: [],
        play() {
          ctx.actions.push('play');
          ctx.paused = false;
          emit('play');
        },
        pause() {
          ctx.actions.push('pause');
          ctx.paused = true;
          emit('pause');
        },
        stop() {
          ctx.actions.push('stop');
          ctx.paused = true;
          emit('stop');
        },
        seek(t) {
          ctx.actions.push(`seek:${t}`);
        },
        destroy() {
          ctx.actions.push('destroy');
          ctx.destroyed = true;
        },
        onPlay: on('play'),
        onPause: on('pause'),
        onStop: on('stop'),
        onEnded: on('ended'),
        onError: on('error'),
        onCanplay: on('canplay'),
        offPlay() {},
        offPause() {},
        offStop() {},
        offEnded() {},
        offError() {},
        /** Test hook: the platform reports an event. */
        __emit: emit,
      };
      audios.push(ctx);
      return ctx;
    },

    chooseMedia(opts) {
      record('chooseMedia', { count: opts.count, mediaType: opts.mediaType, sourceType: opts.sourceType });
      later(() => {
        if (typeof o.chooseMedia === 'string' || !o.chooseMedia) {
          failed(opts, { errMsg: typeof o.chooseMedia === 'string' ? o.chooseMedia : 'chooseMedia:fail cancel' });
          return;
        }
        const tempFiles = o.chooseMedia.map((p) => ({ tempFilePath: p, size: fs.statSync(p).size, fileType: 'image' }));
        done(opts, { tempFiles, type: 'image', errMsg: 'chooseMedia:ok' });
      });
    },

    getAccountInfoSync() {
      return { miniProgram: { appId: o.appid || 'touristappid', envVersion: o.envVersion || 'develop', version: '' } };
    },
    getAppBaseInfo() {
      return { language: o.language || 'zh_CN', SDKVersion: '3.4.0' };
    },
    getSystemInfoSync() {
      return { language: o.language || 'zh_CN', SDKVersion: '3.4.0', platform: 'devtools' };
    },
  };

  // UI calls: recorded, and `success` called back (showModal: confirm).
  for (const name of [
    'showToast',
    'hideToast',
    'showLoading',
    'hideLoading',
    'showModal',
    'navigateTo',
    'redirectTo',
    'navigateBack',
    'switchTab',
    'setNavigationBarTitle',
    'stopPullDownRefresh',
    'previewImage',
    'vibrateShort',
  ]) {
    wx[name] = (opts) => {
      record(name, opts);
      later(() => done(opts, name === 'showModal' ? { confirm: true, cancel: false } : { errMsg: `${name}:ok` }));
    };
  }

  return wx;
}

module.exports = { createWx };
