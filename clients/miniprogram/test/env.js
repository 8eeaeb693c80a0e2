// What the tests run against, from the environment:
// MUSEUM_API (the server, e.g. http://127.0.0.1:8080), FAKE_WECHAT (the fake
// WeChat API, e.g. http://127.0.0.1:8090), DEMO_PHOTOS (a folder of demo
// visitor photos named <exhibit id>-visitor.jpg), DEMO_MUSEUM (palace-demo).
// Tests that need the server are skipped, with the reason, when MUSEUM_API is unset.

const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const zlib = require('node:zlib');

const API = (process.env.MUSEUM_API || '').replace(/\/+$/, '');
const FAKE_WECHAT = (process.env.FAKE_WECHAT || '').replace(/\/+$/, '');
const DEMO_PHOTOS = process.env.DEMO_PHOTOS || '';
const DEMO_MUSEUM = process.env.DEMO_MUSEUM || 'palace-demo';

/** `false` when the server tests can run, else the reason to skip them (node:test's `skip` option). */
const needServer = API ? false : 'MUSEUM_API is unset: set it (and FAKE_WECHAT, DEMO_PHOTOS) to test against a server';
const needLogin =
  needServer || (FAKE_WECHAT ? false : 'FAKE_WECHAT is unset: wx.login needs the fake WeChat API');
const needPhotos =
  needServer || (DEMO_PHOTOS && fs.existsSync(DEMO_PHOTOS) ? false : 'DEMO_PHOTOS is unset or missing');

/** The demo photos: [{file, id}] (the exhibit id is the file name before `-visitor`). */
function demoPhotos() {
  if (!DEMO_PHOTOS || !fs.existsSync(DEMO_PHOTOS)) return [];
  return fs
    .readdirSync(DEMO_PHOTOS)
    .filter((f) => /-visitor\.(jpe?g|png)$/i.test(f))
    .sort()
    .map((f) => ({ file: path.join(DEMO_PHOTOS, f), id: f.replace(/-visitor\.[a-z]+$/i, '') }));
}

/** A WeChat user of its own, so a test's history and favorites are its own. */
function newUser(label) {
  return `mp-${label}-${crypto.randomBytes(6).toString('hex')}`;
}

function crc32(buf) {
  let crc = 0xffffffff;
  for (const byte of buf) {
    let c = (crc ^ byte) & 0xff;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    crc = (crc >>> 8) ^ c;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

function pngChunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

/** A plain-coloured RGB PNG: a photo of no exhibit at all. */
function plainPng(width, height, rgb) {
  const row = Buffer.alloc(1 + width * 3);
  for (let x = 0; x < width; x++) row.set(rgb, 1 + x * 3);
  const raw = Buffer.concat(Array.from({ length: height }, () => row));
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  return Buffer.concat([
    Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', zlib.deflateSync(raw)),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/** A temp file as wx.chooseMedia would give (`wxfile://tmp_...` on a phone; a path here). */
function tempFile(name, bytes) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mp-test-'));
  const file = path.join(dir, name);
  fs.writeFileSync(file, bytes);
  return file;
}

/** The request a test compares with: a direct multipart POST /api/v1/recognize, as curl -F would send it. */
async function directRecognize(file, fields, token) {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields || {})) form.append(k, v);
  form.append('file', new Blob([fs.readFileSync(file)], { type: 'image/jpeg' }), path.basename(file));
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  const res = await fetch(`${API}/api/v1/recognize`, { method: 'POST', body: form, headers });
  return { status: res.status, body: await res.json() };
}

/** A direct GET of `pathAndQuery` on the server: {status, body}. */
async function directGet(pathAndQuery, token) {
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  const res = await fetch(`${API}${pathAndQuery}`, { headers });
  return { status: res.status, body: await res.json() };
}

/** Queues failures of the fake WeChat API (`{api, errcode, times}`). */
async function fakeWechatFail(api, errcode, times) {
  const res = await fetch(`${FAKE_WECHAT}/fake/fail`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ api, errcode, times }),
  });
  if (!res.ok) throw new Error(`fake/fail: HTTP ${res.status}`);
}

module.exports = {
  API,
  FAKE_WECHAT,
  DEMO_PHOTOS,
  DEMO_MUSEUM,
  needServer,
  needLogin,
  needPhotos,
  demoPhotos,
  newUser,
  plainPng,
  tempFile,
  directRecognize,
  directGet,
  fakeWechatFail,
};
