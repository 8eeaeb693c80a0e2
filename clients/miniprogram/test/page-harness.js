// Loads a page of the mini-program the way the platform does (the page file
// calls the global `Page({...})`), with stand-in `Page`, `getApp`,
// `getCurrentPages` and `wx` globals, and gives back an instance whose
// `setData` works like the platform's (path keys such as 'card.related' or
// 'items[0].title').

const path = require('node:path');

const ROOT = path.join(__dirname, '..', 'miniprogram');

function setPath(target, key, value) {
  const parts = [];
  key.replace(/[^.[\]]+|\[(\d+)\]/g, (m, index) => {
    parts.push(index !== undefined ? Number(index) : m);
    return m;
  });
  let node = target;
  for (let i = 0; i < parts.length - 1; i++) {
    const next = parts[i + 1];
    if (node[parts[i]] === null || typeof node[parts[i]] !== 'object') node[parts[i]] = typeof next === 'number' ? [] : {};
    node = node[parts[i]];
  }
  node[parts[parts.length - 1]] = value;
}

/**
 * Installs the globals and loads `pages/<name>/<name>.js`.
 * options: wx (the stand-in), app (what getApp() returns; a default app with
 * globalData and ensureLogin is made), stack (pages getCurrentPages() reports).
 * Returns {page, def, app}: `page` is a fresh instance (data cloned from the definition).
 */
function loadPage(name, options) {
  const o = options || {};
  let def = null;
  const app = o.app || {
    globalData: { museum: '', lang: 'en', recognition: null, loggedIn: false },
    ensureLogin() {
      return Promise.resolve(null);
    },
    setPrefs(prefs) {
      Object.assign(this.globalData, prefs);
    },
  };
  global.wx = o.wx;
  global.getApp = () => app;
  global.Page = (d) => {
    def = d;
  };
  const stack = o.stack || [];
  global.getCurrentPages = () => stack;
  const file = path.join(ROOT, 'pages', name, `${name}.js`);
  delete require.cache[require.resolve(file)];
  require(file);
  if (!def) throw new Error(`${file} did not call Page()`);
  const page = Object.assign({}, def, {
    data: structuredClone(def.data),
    route: `pages/${name}/${name}`,
    setDataCalls: [],
    setData(obj, cb) {
      this.setDataCalls.push(structuredClone(obj));
      for (const key of Object.keys(obj)) setPath(this.data, key, structuredClone(obj[key]));
      if (typeof cb === 'function') cb();
    },
  });
  stack.push(page);
  return { page, def, app };
}

/** A tap event as the platform delivers it (dataset from data-* attributes). */
function tap(dataset) {
  return { type: 'tap', currentTarget: { dataset }, target: { dataset }, detail: {} };
}

module.exports = { loadPage, tap, setPath, ROOT };
