// The project as WeChat DevTools reads it: project.config.json, app.json and
// its pages (each with .js/.json/.wxml/.wxss), and the WXML templates checked
// against their page code: balanced tags, every event handler a function of
// the page, every `t.<word>` a text in both languages.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const { createWx } = require('./wx-standin.js');
const { loadPage, ROOT } = require('./page-harness.js');
const { TEXT } = require('../miniprogram/utils/i18n.js');

const PROJECT = path.join(__dirname, '..');
const readJson = (file) => JSON.parse(fs.readFileSync(file, 'utf8'));
const app = readJson(path.join(ROOT, 'app.json'));

test('project.config.json: placeholder appid and the mini-program root', () => {
  const config = readJson(path.join(PROJECT, 'project.config.json'));
  assert.equal(config.appid, 'touristappid');
  assert.equal(config.compileType, 'miniprogram');
  assert.equal(path.resolve(PROJECT, config.miniprogramRoot), ROOT);
  assert.match(config.description, /appid/i);
});

test('app.json: every page and tab has its four files; every JSON file parses', () => {
  assert.deepEqual(app.pages, ['pages/index/index', 'pages/card/card', 'pages/history/history', 'pages/favorites/favorites']);
  for (const page of app.pages) {
    for (const ext of ['js', 'json', 'wxml', 'wxss']) {
      assert.ok(fs.existsSync(path.join(ROOT, `${page}.${ext}`)), `${page}.${ext}`);
    }
    readJson(path.join(ROOT, `${page}.json`));
  }
  for (const tab of app.tabBar.list) assert.ok(app.pages.includes(tab.pagePath), tab.pagePath);
  assert.ok(app.window.navigationBarTitleText);
  readJson(path.join(ROOT, app.sitemapLocation));
  for (const file of ['app.js', 'app.wxss']) assert.ok(fs.existsSync(path.join(ROOT, file)), file);
});

const VOID_TAGS = new Set(['image', 'input', 'icon', 'progress', 'import', 'include', 'textarea', 'switch', 'slider']);

function checkTags(wxml, file) {
  const stack = [];
  const source = wxml.replace(/<!--[\s\S]*?-->/g, '');
  const tag = /<(\/?)([a-zA-Z][\w-]*)((?:[^>"']|"[^"]*"|'[^']*')*?)(\/?)>/g;
  let m;
  while ((m = tag.exec(source))) {
    const [, closing, name, , selfClosing] = m;
    if (closing) {
      assert.equal(stack.pop(), name, `${file}: </${name}> closes the wrong tag`);
    } else if (!selfClosing && !VOID_TAGS.has(name)) {
      stack.push(name);
    }
  }
  assert.deepEqual(stack, [], `${file}: unclosed tags`);
}

test('WXML: balanced tags, handlers that exist, texts in both languages', () => {
  for (const page of app.pages) {
    const name = page.split('/')[1];
    const file = path.join(ROOT, `${page}.wxml`);
    const wxml = fs.readFileSync(file, 'utf8');
    checkTags(wxml, file);

    const { def } = loadPage(name, { wx: createWx({}) });
    const handlers = [...wxml.matchAll(/\b(?:bind|catch)(?::)?[a-z]+="([^"{}]+)"/g)].map((m) => m[1]);
    assert.ok(handlers.length > 0, `${file} has no event handlers`);
    for (const h of handlers) assert.equal(typeof def[h], 'function', `${file}: handler ${h} is not a function of the page`);

    for (const [, word] of wxml.matchAll(/\bt\.([a-zA-Z]+)/g)) {
      assert.ok(TEXT.zh[word] && TEXT.en[word], `${file}: t.${word} missing in a language`);
    }
    // Every top-level data key the template reads is in the page's initial data.
    const roots = new Set([...wxml.matchAll(/\{\{([^}]*)\}\}/g)].flatMap((m) => [...m[1].matchAll(/(?<![.\w'"])([a-zA-Z_]\w*)/g)].map((x) => x[1])));
    for (const root of roots) {
      if (['item', 'index', 'true', 'false', 'null'].includes(root)) continue;
      assert.ok(Object.hasOwn(def.data, root), `${file}: {{${root}}} is not in the page's data`);
    }
  }
});

test('both languages have the same texts', () => {
  assert.deepEqual(Object.keys(TEXT.zh).sort(), Object.keys(TEXT.en).sort());
});

test('the shipped code uses only what the mini-program runtime has (no Node modules, no fetch)', () => {
  const files = [];
  const walk = (dir) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(p);
      else if (p.endsWith('.js')) files.push(p);
    }
  };
  walk(ROOT);
  for (const file of files) {
    // Code only: comment lines may quote code from elsewhere.
    const src = fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .filter((line) => !/^\s*(\/\/|\*|\/\*)/.test(line))
      .join('\n');
    for (const [, spec] of src.matchAll(/require\(['"]([^'"]+)['"]\)/g)) {
      assert.ok(spec.startsWith('.'), `${file}: require('${spec}') is not a file of the mini-program`);
      assert.ok(fs.existsSync(path.resolve(path.dirname(file), spec)), `${file}: ${spec} does not exist`);
    }
    assert.doesNotMatch(src, /\bfetch\(|\bprocess\.|\?\.|\?\?/, `${file}: not available in the mini-program runtime`);
  }
});
