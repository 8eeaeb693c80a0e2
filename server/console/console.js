// The museum console: curators and registrars onboard and manage a museum's
// collection (import, build, publish, edit, try a photo, health and
// analytics). Plain script, no build step, no framework; the page is served
// with a strict CSP (no inline code or styles), and API text only ever
// reaches the page through textContent and attributes.
//
// The admin key is held in script (memory and sessionStorage; localStorage
// only when "remember me" is ticked) and sent as `Authorization: Bearer`
// with every admin call; never as a cookie.
"use strict";

(() => {
  // ---- constants --------------------------------------------------------------

  const STORE_KEY = "museum-console.key";
  const POLL_MS = 500;
  const SEARCH_DEBOUNCE_MS = 250;
  const PAGE_SIZE = 20;
  const API_TIMEOUT_MS = 30000;
  const TRY_TIMEOUT_MS = 90000;
  /** How long a saved change may take to be served before we stop waiting for it. */
  const LIVE_WAIT_MS = 180000;
  /** Consecutive failed polls (network, 5xx) tolerated before giving up. */
  const POLL_FAILURES = 20;
  const LANG_TAG = /^[A-Za-z]{2,8}(-[0-9A-Za-z]{1,8})*$/;
  const MUSEUM_ID = /^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$/;
  const EXHIBIT_ID = /^[A-Za-z0-9._-]+$/;
  /** The console's own words are English. */
  const UI_LANG = "en";
  const ADD_LANG = "__add__";

  const MUSEUM_VIEWS = ["import", "versions", "exhibits", "try", "health"];
  const NAV = [
    ["import", "Import"],
    ["versions", "Versions"],
    ["exhibits", "Exhibits"],
    ["try", "Try a photo"],
    ["health", "Health"],
  ];
  const VIEW_TITLES = {
    login: "Log in",
    museums: "Museums",
    import: "Import",
    versions: "Versions",
    exhibits: "Exhibits",
    exhibit: "Exhibit",
    try: "Try a photo",
    health: "Health",
  };
  /** The builder's stages, in words (unknown ones are shown as they come). */
  const STAGES = {
    validating: "Checking the records",
    embedding: "Reading the images (embedding)",
    calibrating: "Calibrating recognition",
    media: "Making display pictures and thumbnails",
    search: "Building the search index",
    writing: "Writing the new version",
    importing: "Reading the records",
    downloading: "Downloading",
  };
  const PROBLEMS = {
    look_alike: "Looks like another exhibit",
    few_keypoints: "Few keypoints",
    single_view: "Only one view",
  };
  /** Errors a poll may meet and outlive (the server busy or restarting). */
  const TRANSIENT = new Set([
    "network",
    "timeout",
    "busy",
    "not_ready",
    "store_unavailable",
    "internal",
    "rate_limited",
    "upload_timeout",
  ]);
  /** Words for error codes whose server message is missing. */
  const FALLBACK = {
    network: "Cannot reach the server. Check the connection and try again.",
    timeout: "The server took too long to answer. Try again.",
    admin_key_required: "That key is not valid.",
    admin_forbidden: "This key may not do that.",
    admin_disabled: "The admin API is switched off on this server.",
    not_published: "Nothing is published yet: import records and build a version first.",
    store_unavailable: "The store is unavailable right now; try again in a moment.",
    internal: "The server met an internal error.",
    generic: "The server refused the request.",
  };

  // ---- small helpers ------------------------------------------------------------

  const $ = (id) => document.getElementById(id);

  /** An element with attributes and children (strings become text nodes). */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name === "class") el.className = value;
      else if (name === "text") el.textContent = value;
      else if (name.startsWith("on") && typeof value === "function") el.addEventListener(name.slice(2), value);
      else if (value === true) el.setAttribute(name, "");
      else el.setAttribute(name, String(value));
    }
    for (const child of children.flat()) {
      if (child === undefined || child === null || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  const sleep = (ms) => new Promise((resolve) => window.setTimeout(resolve, ms));
  const enc = encodeURIComponent;
  const str = (v) => (typeof v === "string" ? v : "");
  const num = (v) => (typeof v === "number" && Number.isFinite(v) ? v : null);
  const isObj = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
  const plural = (n, one, many) => `${n} ${n === 1 ? one : many || `${one}s`}`;

  /** A usable URL for a picture or audio: absolute http(s), blob:, or a path on this server. */
  function mediaUrl(value) {
    if (typeof value !== "string" || value === "") return null;
    if (value.startsWith("/") && !value.startsWith("//")) return value;
    try {
      const url = new URL(value);
      return ["https:", "http:", "blob:"].includes(url.protocol) ? url.href : null;
    } catch {
      return null;
    }
  }

  /** The text of a language map in the first of `langs` it has, else any. */
  function pick(map, langs) {
    if (typeof map === "string") return map;
    if (!isObj(map)) return "";
    for (const lang of langs) {
      if (!lang) continue;
      if (str(map[lang]).trim()) return map[lang];
      const key = Object.keys(map).find((k) => k.toLowerCase() === String(lang).toLowerCase());
      if (key && str(map[key]).trim()) return map[key];
    }
    const any = Object.values(map).find((v) => str(v).trim());
    return any || "";
  }

  function preferredLangs() {
    const p = state.profile;
    return [UI_LANG, p && p.default_lang, "zh", "en"];
  }

  function formatDate(value) {
    if (typeof value !== "string" || !value) return "";
    const date = new Date(value);
    if (Number.isNaN(date.getTime())) return value;
    try {
      return new Intl.DateTimeFormat("en-GB", { dateStyle: "medium", timeStyle: "short" }).format(date);
    } catch {
      return date.toISOString();
    }
  }

  function percent(fraction, digits = 0) {
    const n = num(fraction);
    if (n === null) return "—";
    return `${(n * 100).toFixed(digits)}%`;
  }

  function fixed(value, digits) {
    const n = num(value);
    return n === null ? "—" : n.toFixed(digits);
  }

  /** Seconds as "2 min 10 s". */
  function duration(seconds) {
    const s = Math.max(0, Math.round(seconds));
    if (s < 5) return "a few seconds";
    if (s < 60) return `${s} s`;
    if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
    return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  }

  function bytes(n) {
    if (!Number.isFinite(n)) return "";
    if (n < 1024) return `${n} B`;
    if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KB`;
    if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MB`;
    return `${(n / 1024 / 1024 / 1024).toFixed(2)} GB`;
  }

  /** A server message as a sentence: capitalised, with a full stop. */
  function smoothScroll() {
    return window.matchMedia("(prefers-reduced-motion: reduce)").matches ? "auto" : "smooth";
  }

  function sentence(text) {
    const s = String(text || "").trim();
    if (!s) return "";
    const first = s.charAt(0).toUpperCase() + s.slice(1);
    return /[.!?:。！？]$/.test(first) ? first : `${first}.`;
  }

  // ---- status lines -----------------------------------------------------------------

  /** Replaces a status line's content: a message (text or nodes), busy spinner, error or ok styling. */
  function say(el, message, { busy = false, kind = "" } = {}) {
    el.replaceChildren();
    el.classList.toggle("busy", busy);
    el.classList.toggle("is-error", kind === "error");
    el.classList.toggle("is-ok", kind === "ok");
    if (!message) return;
    if (busy) el.append(h("span", { class: "spinner", "aria-hidden": "true" }));
    for (const part of Array.isArray(message) ? message : [message]) {
      if (part === null || part === undefined || part === false) continue;
      el.append(part instanceof Node ? part : document.createTextNode(String(part)));
    }
  }

  /** An error in plain words, with the request id to quote. */
  function errorParts(error, prefix) {
    const text = describe(error);
    const parts = [prefix ? `${prefix} ${text}` : text];
    if (error instanceof ApiError && error.requestId) {
      parts.push(" ", h("span", { class: "ref", text: `(request id ${error.requestId})` }));
    }
    return parts;
  }

  function sayError(el, error, prefix) {
    say(el, errorParts(error, prefix), { kind: "error" });
  }

  function describe(error) {
    if (!(error instanceof ApiError)) {
      if (error && error.name === "AbortError") return "Cancelled.";
      return "Something went wrong in this page. Reload it and try again.";
    }
    if (error.code === "network" || error.code === "timeout") return FALLBACK[error.code];
    if (error.message) return sentence(error.message);
    return FALLBACK[error.code] || FALLBACK.generic;
  }

  // ---- the API ----------------------------------------------------------------------

  class ApiError extends Error {
    constructor(code, status, message, requestId) {
      super(message || "");
      this.name = "ApiError";
      this.code = code || "generic";
      this.status = status || 0;
      this.requestId = requestId || "";
    }
  }

  function statusCode(status) {
    if (status === 401) return "admin_key_required";
    if (status === 403) return "admin_forbidden";
    if (status === 503) return "busy";
    if (status === 429) return "rate_limited";
    if (status === 408 || status === 504) return "timeout";
    if (status >= 500) return "internal";
    return "generic";
  }

  /** The envelope's data, or an ApiError. */
  function settle(status, body, sentKey) {
    if (status >= 200 && status < 300 && body && body.errcode === 0) {
      return body.data === undefined || body.data === null ? {} : body.data;
    }
    const code = (body && typeof body.error === "string" && body.error) || statusCode(status);
    const error = new ApiError(
      code,
      status,
      body && typeof body.errmsg === "string" ? body.errmsg : "",
      body && typeof body.request_id === "string" ? body.request_id : "",
    );
    // The key stopped working (revoked, or the server's configuration changed): log in again.
    if (status === 401 && sentKey && sentKey === session.key && session.role) {
      window.setTimeout(() => logout("Your key is no longer accepted. Log in again."), 0);
    }
    throw error;
  }

  /**
   * One JSON call. `auth: false` for the public API (no key is sent there).
   * `json` is sent as a JSON body, `form` as multipart.
   */
  async function call(method, path, { json, form, signal, timeout = API_TIMEOUT_MS, key, auth = true } = {}) {
    const sentKey = auth ? key || session.key : "";
    const headers = { accept: "application/json" };
    if (sentKey) headers.authorization = `Bearer ${sentKey}`;
    let body;
    if (json !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(json);
    } else if (form) {
      body = form;
    }
    const controller = new AbortController();
    let timedOut = false;
    const timer = window.setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeout);
    const abort = () => controller.abort();
    if (signal) {
      if (signal.aborted) controller.abort();
      signal.addEventListener("abort", abort, { once: true });
    }
    let response;
    try {
      response = await fetch(path, {
        method,
        headers,
        body,
        credentials: "omit",
        cache: "no-store",
        referrerPolicy: "no-referrer",
        signal: controller.signal,
      });
    } catch (e) {
      if (signal && signal.aborted) throw e;
      throw new ApiError(timedOut ? "timeout" : "network", 0);
    } finally {
      window.clearTimeout(timer);
      if (signal) signal.removeEventListener("abort", abort);
    }
    let parsed = null;
    try {
      parsed = await response.json();
    } catch {
      parsed = null;
    }
    return settle(response.status, parsed, sentKey);
  }

  /** A multipart upload with progress (fetch reports none): XMLHttpRequest, same envelope. */
  function upload(method, path, form, onProgress) {
    const sentKey = session.key;
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open(method, path);
      xhr.withCredentials = false;
      xhr.setRequestHeader("accept", "application/json");
      if (sentKey) xhr.setRequestHeader("authorization", `Bearer ${sentKey}`);
      xhr.responseType = "text";
      if (onProgress) {
        xhr.upload.addEventListener("progress", (event) => {
          if (event.lengthComputable) onProgress(event.loaded, event.total);
        });
      }
      xhr.addEventListener("load", () => {
        let parsed = null;
        try {
          parsed = JSON.parse(xhr.responseText);
        } catch {
          parsed = null;
        }
        try {
          resolve(settle(xhr.status, parsed, sentKey));
        } catch (e) {
          reject(e);
        }
      });
      xhr.addEventListener("error", () => reject(new ApiError("network", 0)));
      xhr.addEventListener("timeout", () => reject(new ApiError("timeout", 0)));
      xhr.addEventListener("abort", () => reject(new ApiError("network", 0, "The upload was cancelled.")));
      xhr.send(form);
    });
  }

  const admin = (museum, rest = "") => `/api/v1/admin/museums/${enc(museum)}${rest}`;

  /**
   * GETs `path` every POLL_MS and hands each answer to `done`, until `done`
   * returns something other than undefined: that is what it resolves with.
   * Resolves null when `alive()` turns false or `timeoutMs` passes.
   * Outlives POLL_FAILURES transient failures in a row (network, 5xx).
   */
  async function poll(path, { alive, done, timeoutMs = Infinity }) {
    const started = Date.now();
    let failures = 0;
    while (Date.now() - started < timeoutMs) {
      if (!alive()) return null;
      let answer;
      try {
        answer = await call("GET", path);
        failures = 0;
      } catch (e) {
        if (!(e instanceof ApiError && TRANSIENT.has(e.code) && ++failures < POLL_FAILURES)) throw e;
        await sleep(POLL_MS);
        continue;
      }
      if (!alive()) return null;
      const result = done(answer);
      if (result !== undefined) return result;
      await sleep(POLL_MS);
    }
    return null;
  }

  /**
   * Polls a job until it is no longer running; calls `onUpdate(job)` with
   * each answer. Resolves with the finished job, or null when `alive()` turns false.
   */
  function pollJob(museum, jobId, { alive, onUpdate }) {
    return poll(admin(museum, `/jobs/${enc(jobId)}`), {
      alive,
      done: (job) => {
        if (onUpdate) onUpdate(job);
        return job.state && job.state !== "running" ? job : undefined;
      },
    });
  }

  /**
   * Polls the museum's profile until this server serves `version`.
   * Resolves true when it does, false on giving up (or when `alive()` turns false).
   */
  async function waitServing(museum, version, { alive }) {
    const served = await poll(admin(museum), {
      alive,
      timeoutMs: LIVE_WAIT_MS,
      done: (profile) => {
        if (museum === state.museum) updateProfile(profile);
        return profile.serving_version === version ? true : undefined;
      },
    });
    return served === true;
  }

  // ---- session ------------------------------------------------------------------------

  const session = {
    key: "",
    /** "operator" | "museum" | null (not logged in). */
    role: null,
    /** A museum key's museum. */
    museum: null,
  };

  const storage = {
    read() {
      for (const area of ["sessionStorage", "localStorage"]) {
        try {
          const key = window[area].getItem(STORE_KEY);
          if (key) return key;
        } catch {
          // Storage blocked: the key lives in memory only.
        }
      }
      return "";
    },
    write(key, remember) {
      try {
        window.sessionStorage.setItem(STORE_KEY, key);
      } catch {
        // Memory only.
      }
      try {
        if (remember) window.localStorage.setItem(STORE_KEY, key);
        else window.localStorage.removeItem(STORE_KEY);
      } catch {
        // Not remembered.
      }
    },
    clear() {
      for (const area of ["sessionStorage", "localStorage"]) {
        try {
          window[area].removeItem(STORE_KEY);
        } catch {
          // Nothing stored.
        }
      }
    },
  };

  /** Who a key is: the operator (it may list museums) or one museum's key. */
  async function identify(key) {
    try {
      const data = await call("GET", "/api/v1/admin/museums", { key });
      return { role: "operator", museum: null, museums: Array.isArray(data.museums) ? data.museums : [] };
    } catch (e) {
      if (e instanceof ApiError && e.status === 403 && e.code !== "admin_disabled") {
        const parts = key.split(".");
        if (parts.length >= 3 && parts[0] === "mk" && MUSEUM_ID.test(parts[1])) {
          return { role: "museum", museum: parts[1] };
        }
        throw new ApiError("admin_forbidden", 403, "This key is neither the operator key nor a museum key (mk.<museum>.<secret>).");
      }
      throw e;
    }
  }

  async function onLogin(event) {
    event.preventDefault();
    const keyInput = $("login-key");
    const key = keyInput.value.trim();
    const error = $("login-error");
    error.textContent = "";
    if (!key) {
      error.textContent = "Enter a key.";
      keyInput.focus();
      return;
    }
    const button = $("login-submit");
    button.disabled = true;
    say($("status"), "Checking the key…", { busy: true });
    try {
      const who = await identify(key);
      storage.write(key, $("login-remember").checked);
      keyInput.value = "";
      startSession(key, who);
      say($("status"), "");
      await route({ focus: true });
    } catch (e) {
      say($("status"), "");
      if (e instanceof ApiError && (e.status === 401 || e.code === "admin_key_required")) {
        error.textContent = "That key is not valid.";
      } else {
        error.replaceChildren(...errorParts(e));
      }
      keyInput.focus();
    } finally {
      button.disabled = false;
    }
  }

  function startSession(key, who) {
    session.key = key;
    session.role = who.role;
    session.museum = who.museum;
    if (who.role === "operator") state.museums = who.museums || [];
    $("session").hidden = false;
    $("whoami").textContent = who.role === "operator" ? "Operator" : `Museum key: ${who.museum}`;
  }

  function logout(message) {
    const wasIn = Boolean(session.role);
    session.key = "";
    session.role = null;
    session.museum = null;
    storage.clear();
    resetMuseum(null);
    state.museums = [];
    $("session").hidden = true;
    $("whoami").textContent = "";
    $("nav").hidden = true;
    $("login-error").textContent = message || "";
    say($("status"), wasIn && !message ? "You are logged out." : "");
    history.replaceState(null, "", location.pathname + location.search);
    showView("login", { focus: true });
    $("login-key").focus();
  }

  // ---- state and routing ---------------------------------------------------------------------

  const state = {
    /** The museum being worked on (null on the museums list). */
    museum: null,
    profile: null,
    /** Bumped whenever the museum changes: loops of the old museum stop. */
    epoch: 0,
    museums: [],
    view: null,
    imp: null,
    search: null,
    ex: null,
    tryRun: null,
    health: null,
    versions: null,
    charts: {},
  };

  function freshMuseumState() {
    state.imp = { importId: null, report: null, buildJob: null, running: false, building: false };
    state.search = { q: null, page: 1, total: 0, seq: 0, timer: 0, controller: null, loaded: false };
    state.ex = { id: null, seq: 0, busy: false, data: null, draft: null, lang: null, audioLangTouched: false };
    state.tryRun = { seq: 0, photoUrl: null };
    state.health = { seq: 0 };
    state.versions = { seq: 0, data: null, busy: false };
  }

  /** Switches the console to another museum (or none); the old museum's views are cleared. */
  function resetMuseum(museum) {
    if (museum === state.museum && state.imp) return;
    state.epoch += 1;
    state.museum = museum;
    state.profile = null;
    freshMuseumState();
    clearMuseumViews();
    renderHeader();
    if (museum) loadProfile(museum);
  }

  function parseRoute() {
    const raw = location.hash.replace(/^#\/?/, "");
    if (!raw) return null;
    const parts = raw.split("/").map((p) => {
      try {
        return decodeURIComponent(p);
      } catch {
        return p;
      }
    });
    if (parts[0] === "museums") return { view: "museums" };
    if (parts[0] === "m" && parts[1] && MUSEUM_ID.test(parts[1])) {
      const museum = parts[1];
      if (parts[2] === "exhibit" && parts[3]) return { view: "exhibit", museum, exhibit: parts[3] };
      if (MUSEUM_VIEWS.includes(parts[2])) return { view: parts[2], museum };
      return { view: null, museum };
    }
    return null;
  }

  function museumHash(museum, view) {
    return `#/m/${enc(museum)}/${view}`;
  }

  function exhibitHash(museum, id) {
    return `#/m/${enc(museum)}/exhibit/${enc(id)}`;
  }

  /** The view a museum opens on: its exhibits when something is published, else Import. */
  async function defaultView(museum) {
    try {
      const profile = await call("GET", admin(museum));
      return profile.published_version ? "exhibits" : "import";
    } catch {
      return "import";
    }
  }

  function redirect(hash, options) {
    history.replaceState(null, "", hash);
    return route(options);
  }

  async function route({ focus = false } = {}) {
    if (!session.role) {
      showView("login", { focus });
      return;
    }
    const r = parseRoute();
    if (session.role === "museum") {
      if (!r || r.view === "museums" || r.museum !== session.museum) {
        const own = session.museum;
        const view = r && r.museum === own && r.view ? r.view : await defaultView(own);
        await redirect(museumHash(own, view), { focus });
        return;
      }
    } else if (!r) {
      await redirect("#/museums", { focus });
      return;
    }
    if (r.view === null) {
      await redirect(museumHash(r.museum, await defaultView(r.museum)), { focus });
      return;
    }
    if (r.view === "museums") {
      resetMuseum(null);
      showView("museums", { focus });
      loadMuseums();
      return;
    }
    resetMuseum(r.museum);
    showView(r.view, { focus });
    enterView(r);
  }

  function enterView(r) {
    switch (r.view) {
      case "import":
        enterImport();
        break;
      case "versions":
        loadVersions();
        break;
      case "exhibits":
        enterExhibits();
        break;
      case "exhibit":
        enterExhibit(r.exhibit);
        break;
      case "try":
        break;
      case "health":
        loadHealth();
        break;
      default:
        break;
    }
  }

  function showView(name, { focus = false } = {}) {
    state.view = name;
    for (const section of document.querySelectorAll("main > section[data-view]")) {
      section.hidden = section.dataset.view !== name;
    }
    renderNav();
    const museumName = state.profile ? museumTitle(state.profile) : state.museum;
    document.title = [VIEW_TITLES[name] || "", museumName || "", "Museum console"].filter(Boolean).join(" · ");
    if (focus) {
      const heading = document.querySelector(`section[data-view="${name}"] .view-heading`);
      if (heading) heading.focus({ preventScroll: true });
      window.scrollTo(0, 0);
    }
  }

  function renderNav() {
    const nav = $("nav");
    const list = $("nav-list");
    if (!session.role) {
      nav.hidden = true;
      list.replaceChildren();
      return;
    }
    const current = state.view === "exhibit" ? "exhibits" : state.view;
    const items = [];
    if (session.role === "operator") items.push(["museums", "All museums", "#/museums"]);
    if (state.museum) {
      for (const [view, label] of NAV) items.push([view, label, museumHash(state.museum, view)]);
    }
    list.replaceChildren(
      ...items.map(([view, label, href]) =>
        h(
          "li",
          {},
          h("a", {
            id: `nav-${view}`,
            href,
            text: label,
            "data-nav": view,
            "aria-current": view === current ? "page" : null,
          }),
        ),
      ),
    );
    nav.hidden = items.length === 0;
  }

  // ---- header: the museum's name and logo -------------------------------------------------------

  function museumTitle(profile) {
    return pick(profile && profile.name, [UI_LANG, profile && profile.default_lang, "zh", "en"]) || (profile && profile.id) || "";
  }

  async function loadProfile(museum) {
    const epoch = state.epoch;
    try {
      const profile = await call("GET", admin(museum));
      if (epoch !== state.epoch) return;
      updateProfile(profile);
    } catch (e) {
      if (epoch !== state.epoch) return;
      if (e instanceof ApiError && e.status === 401) return;
      sayError($("status"), e, `Could not open museum ${museum}:`);
    }
  }

  function updateProfile(profile) {
    if (!profile || profile.id !== state.museum) return;
    const first = !state.profile;
    state.profile = profile;
    renderHeader();
    if (first) onProfileLoaded();
    if (state.view) {
      document.title = [VIEW_TITLES[state.view] || "", museumTitle(profile), "Museum console"].filter(Boolean).join(" · ");
    }
  }

  function renderHeader() {
    const name = $("museum-name");
    const logo = $("museum-logo");
    if (!state.museum) {
      name.textContent = "Museum console";
      name.removeAttribute("lang");
      logo.hidden = true;
      logo.removeAttribute("src");
      return;
    }
    const profile = state.profile;
    name.textContent = profile ? museumTitle(profile) : state.museum;
    const src = profile && mediaUrl(profile.logo_url);
    if (src) {
      if (logo.getAttribute("src") !== src) logo.src = src;
      logo.hidden = false;
    } else {
      logo.hidden = true;
      logo.removeAttribute("src");
    }
  }

  /** What needs the profile: the exhibits view's "nothing published" note. */
  function onProfileLoaded() {
    if (state.view === "exhibits") showNothingPublished();
  }

  function clearMuseumViews() {
    // Import
    $("import-form").reset();
    $("import-iiif-form").reset();
    $("import-progress").hidden = true;
    say($("import-status"), "");
    $("report").hidden = true;
    $("report-rows").replaceChildren();
    $("build").hidden = true;
    resetBuildUi();
    // Versions
    $("versions-rows").replaceChildren();
    say($("versions-status"), "");
    $("versions-summary").textContent = "";
    // Exhibits
    $("exhibit-search").value = "";
    $("exhibits-list").replaceChildren();
    say($("exhibits-status"), "");
    $("exhibits-page").textContent = "";
    $("exhibits-prev").disabled = true;
    $("exhibits-next").disabled = true;
    // Exhibit
    $("exhibit-body").hidden = true;
    say($("exhibit-load-status"), "");
    say($("exhibit-status"), "");
    // Try
    $("try-form").reset();
    $("try-result").hidden = true;
    say($("try-status"), "");
    // Health
    $("health-findings").replaceChildren();
    $("health-summary").textContent = "";
    say($("health-status"), "");
    say($("analytics-status"), "");
    $("analytics-summary").textContent = "";
    destroyCharts();
    say($("status"), "");
  }

  // ---- museums (operator) ------------------------------------------------------------------------

  async function loadMuseums() {
    const status = $("museums-status");
    say(status, "Loading the museums…", { busy: true });
    try {
      const data = await call("GET", "/api/v1/admin/museums");
      state.museums = Array.isArray(data.museums) ? data.museums : [];
      renderMuseums();
      say(status, state.museums.length === 0 ? "No museum yet: create the first one below." : plural(state.museums.length, "museum"));
    } catch (e) {
      sayError(status, e, "Could not load the museums:");
    }
  }

  function renderMuseums() {
    const rows = state.museums
      .filter((m) => m && typeof m.id === "string")
      .map((m) => {
        const title = museumTitle(m);
        const logo = mediaUrl(m.logo_url);
        const link = h(
          "a",
          { href: museumHash(m.id, m.published_version ? "exhibits" : "import"), class: "museum-link", "data-museum": m.id },
          logo ? h("img", { src: logo, alt: "", class: "row-logo", width: 32, height: 32, loading: "lazy" }) : null,
          h("span", { class: "museum-title", text: title }),
        );
        const live = m.published_version
          ? [h("code", { text: m.published_version })]
          : [h("span", { class: "muted", text: "nothing published" })];
        if (m.serving_version && m.serving_version !== m.published_version) {
          live.push(h("br"), h("span", { class: "muted small", text: `this server still serves ${m.serving_version}` }));
        }
        const keys = Array.isArray(m.keys) ? m.keys : [];
        return h(
          "tr",
          { "data-museum": m.id },
          h("th", { scope: "row" }, link, h("span", { class: "muted small id-line", text: m.id })),
          h("td", { text: str(m.default_lang) || "—" }),
          h("td", {}, live),
          h("td", { text: String(keys.length) }),
          h("td", { text: formatDate(m.created_at) || "—" }),
          h("td", { text: runningJob(m.running_job) }),
        );
      });
    $("museums-rows").replaceChildren(...rows);
  }

  function runningJob(job) {
    if (!job) return "none";
    if (typeof job === "string") return job;
    if (isObj(job)) {
      const progress = isObj(job.progress) ? ` (${stageWords(job.progress.stage)})` : "";
      return `${str(job.kind) || "job"}${progress}`;
    }
    return "—";
  }

  let nameRows = 1;

  function addNameRow() {
    const n = nameRows++;
    const row = h(
      "div",
      { class: "name-row", "data-row": n },
      h(
        "div",
        { class: "field lang-field" },
        h("label", { for: `cm-name-lang-${n}`, text: "Language" }),
        h("input", {
          id: `cm-name-lang-${n}`,
          type: "text",
          maxlength: 35,
          autocomplete: "off",
          spellcheck: "false",
          autocapitalize: "off",
          list: "lang-tags",
        }),
      ),
      h(
        "div",
        { class: "field grow" },
        h("label", { for: `cm-name-text-${n}`, text: "Name in this language" }),
        h("input", { id: `cm-name-text-${n}`, type: "text", maxlength: 200, autocomplete: "off" }),
      ),
    );
    row.append(
      h("button", {
        type: "button",
        class: "button small quiet remove",
        text: "Remove",
        "aria-label": "Remove this language",
        onclick: () => {
          row.remove();
          $("cm-add-lang").focus();
        },
      }),
    );
    $("cm-names").append(row);
    $(`cm-name-lang-${n}`).focus();
  }

  async function onCreateMuseum(event) {
    event.preventDefault();
    const status = $("cm-status");
    const id = $("cm-id").value.trim();
    if (!MUSEUM_ID.test(id)) {
      say(status, "The museum id must be 1 to 64 letters, digits, \"-\" or \"_\" (not starting with \"-\").", { kind: "error" });
      $("cm-id").focus();
      return;
    }
    const name = {};
    for (const row of $("cm-names").querySelectorAll(".name-row")) {
      const n = row.dataset.row;
      const lang = $(`cm-name-lang-${n}`).value.trim();
      const text = $(`cm-name-text-${n}`).value.trim();
      if (!text && !lang) continue;
      if (!text) continue;
      if (!LANG_TAG.test(lang)) {
        say(status, `"${lang || "(empty)"}" is not a language tag: use one such as zh, en or zh-Hant.`, { kind: "error" });
        $(`cm-name-lang-${n}`).focus();
        return;
      }
      name[lang] = text;
    }
    let defaultLang = $("cm-default-lang").value.trim();
    if (!defaultLang) defaultLang = Object.keys(name)[0] || "";
    if (defaultLang && !LANG_TAG.test(defaultLang)) {
      say(status, `"${defaultLang}" is not a language tag: use one such as zh, en or zh-Hant.`, { kind: "error" });
      $("cm-default-lang").focus();
      return;
    }
    const logo = $("cm-logo").files && $("cm-logo").files[0];
    const body = { id, name };
    if (defaultLang) body.default_lang = defaultLang;
    const button = $("cm-submit");
    button.disabled = true;
    say(status, "Creating the museum…", { busy: true });
    try {
      const data = await call("POST", "/api/v1/admin/museums", { json: body });
      showNewKey(id, data);
      let logoNote = "";
      if (logo) {
        say(status, "Uploading the logo…", { busy: true });
        try {
          const form = new FormData();
          form.append("logo", logo, logo.name || "logo");
          await upload("PUT", admin(id, "/logo"), form);
          logoNote = " with its logo";
        } catch (e) {
          say(status, errorParts(e, `Museum ${id} was created, but its logo was not saved:`), { kind: "error" });
          $("create-museum").reset();
          await loadMuseums();
          return;
        }
      }
      say(status, `Museum ${id} created${logoNote}.`, { kind: "ok" });
      $("create-museum").reset();
      for (const row of $("cm-names").querySelectorAll(".name-row")) if (row.dataset.row !== "0") row.remove();
      await loadMuseums();
      $("cm-key").focus();
      $("cm-key").select();
    } catch (e) {
      sayError(status, e, "The museum was not created:");
    } finally {
      button.disabled = false;
    }
  }

  function showNewKey(id, data) {
    $("cm-result").hidden = false;
    $("cm-key").value = str(data.api_key);
    $("cm-open").href = museumHash(id, "import");
    $("cm-open").textContent = `Open ${id}: import its collection`;
    say($("cm-copy-status"), data.key_id ? `Key id ${data.key_id} (the id can be shown later; the key cannot).` : "");
  }

  async function copyKey() {
    const input = $("cm-key");
    const status = $("cm-copy-status");
    try {
      await navigator.clipboard.writeText(input.value);
      say(status, "Copied.", { kind: "ok" });
    } catch {
      input.focus();
      input.select();
      let copied = false;
      try {
        copied = document.execCommand("copy");
      } catch {
        copied = false;
      }
      say(status, copied ? "Copied." : "Select the key and copy it (Ctrl+C or Cmd+C).", { kind: copied ? "ok" : "" });
    }
  }

  // ---- import --------------------------------------------------------------------------------------

  function enterImport() {
    // A build or import under way keeps going (and keeps its display).
  }

  function alive(epoch) {
    return () => epoch === state.epoch;
  }

  function importBusy(busy) {
    state.imp.running = busy;
    $("import-submit").disabled = busy;
    $("import-iiif-submit").disabled = busy;
  }

  async function onImportFiles(event) {
    event.preventDefault();
    const imp = state.imp;
    if (imp.running || imp.building) return;
    const status = $("import-status");
    const records = $("import-records").files && $("import-records").files[0];
    const images = $("import-images").files && $("import-images").files[0];
    if (!records) {
      say(status, "Choose the records file (CSV or JSON).", { kind: "error" });
      $("import-records").focus();
      return;
    }
    const form = new FormData();
    form.append("records", records, records.name);
    if (images) form.append("images", images, images.name);
    const museum = state.museum;
    const epoch = state.epoch;
    clearReport();
    importBusy(true);
    const progress = $("import-progress");
    const bar = $("import-upload");
    const barText = $("import-upload-text");
    progress.hidden = false;
    bar.value = 0;
    barText.textContent = "";
    say(status, "Uploading…", { busy: true });
    let data;
    try {
      data = await upload("POST", admin(museum, "/imports"), form, (loaded, total) => {
        if (epoch !== state.epoch) return;
        bar.max = total;
        bar.value = loaded;
        barText.textContent = `${bytes(loaded)} of ${bytes(total)}`;
      });
    } catch (e) {
      if (epoch !== state.epoch) return;
      progress.hidden = true;
      importBusy(false);
      sayError(status, e, "The upload was refused:");
      return;
    }
    if (epoch !== state.epoch) return;
    progress.hidden = true;
    await followImport(museum, epoch, data);
  }

  async function onImportIiif(event) {
    event.preventDefault();
    const imp = state.imp;
    if (imp.running || imp.building) return;
    const status = $("import-status");
    const urls = $("import-iiif")
      .value.split(/\r?\n/)
      .map((s) => s.trim())
      .filter(Boolean);
    if (urls.length === 0) {
      say(status, "Enter at least one manifest URL, one per line.", { kind: "error" });
      $("import-iiif").focus();
      return;
    }
    const bad = urls.find((u) => {
      try {
        const url = new URL(u);
        return url.protocol !== "http:" && url.protocol !== "https:";
      } catch {
        return true;
      }
    });
    if (bad) {
      say(status, `"${bad}" is not an http or https address.`, { kind: "error" });
      $("import-iiif").focus();
      return;
    }
    const museum = state.museum;
    const epoch = state.epoch;
    clearReport();
    importBusy(true);
    say(status, `Sending ${plural(urls.length, "manifest")}…`, { busy: true });
    let data;
    try {
      data = await call("POST", admin(museum, "/imports"), { json: { iiif: urls } });
    } catch (e) {
      if (epoch !== state.epoch) return;
      importBusy(false);
      sayError(status, e, "The import was refused:");
      return;
    }
    if (epoch !== state.epoch) return;
    await followImport(museum, epoch, data);
  }

  function isReport(value) {
    return isObj(value) && Array.isArray(value.records) && typeof value.total === "number";
  }

  /** Polls an import until its validation report is there (or its job failed). */
  async function followImport(museum, epoch, data) {
    const status = $("import-status");
    const importId = str(data.import_id) || (data.job && str(data.job.id));
    state.imp.importId = importId;
    let finishedWithout = 0;
    say(status, "Checking the records…", { busy: true });
    try {
      await poll(admin(museum, `/imports/${enc(importId)}`), {
        alive: () => epoch === state.epoch && state.imp.importId === importId,
        done: (answer) => {
          const job = isObj(answer.job) ? answer.job : null;
          const report = isReport(answer.report)
            ? answer.report
            : job && job.state === "succeeded" && isReport(job.result)
              ? job.result
              : null;
          if (report) {
            say(status, "The records are checked.", { kind: "ok" });
            showReport(importId, report);
            return true;
          }
          if (job && job.state === "failed") {
            say(status, `The import stopped: ${sentence(job.error) || "no reason was given."}`, { kind: "error" });
            return true;
          }
          if (job && job.state === "succeeded" && ++finishedWithout > 10) {
            say(status, "The import finished, but its report could not be read. Try the import again.", { kind: "error" });
            return true;
          }
          const p = job && isObj(job.progress) ? job.progress : null;
          say(
            status,
            p && num(p.total) ? `${stageWords(p.stage || "validating")}: ${p.done} of ${p.total}…` : "Checking the records…",
            { busy: true },
          );
          return undefined;
        },
      });
    } catch (e) {
      if (epoch === state.epoch) sayError(status, e, "Could not follow the import:");
    } finally {
      if (epoch === state.epoch) importBusy(false);
    }
  }

  function clearReport() {
    state.imp.report = null;
    state.imp.importId = null;
    $("report").hidden = true;
    $("report-rows").replaceChildren();
    $("report-summary").textContent = "";
    $("report-shown").textContent = "";
    $("report-filter").value = "all";
    $("report-search").value = "";
    $("build").hidden = true;
    resetBuildUi();
  }

  function showReport(importId, report) {
    state.imp.report = report;
    state.imp.importId = importId;
    const total = num(report.total) ?? report.records.length;
    const accepted = num(report.accepted) ?? report.records.filter((r) => r.status === "accepted").length;
    const rejected = num(report.rejected) ?? total - accepted;
    $("report-summary").textContent = `${plural(total, "record")}: ${accepted} accepted, ${rejected} rejected`;
    const rows = [];
    for (const record of report.records) {
      if (!isObj(record)) continue;
      const verdict = record.status === "accepted" ? "accepted" : "rejected";
      const reasons = Array.isArray(record.reasons) ? record.reasons.filter((r) => typeof r === "string") : [];
      const id = str(record.id);
      const row = h(
        "tr",
        { class: verdict, "data-status": verdict },
        h("td", { class: "num", text: String(record.position ?? "") }),
        h("td", {}, id ? h("code", { text: id }) : h("span", { class: "muted", text: "no id" })),
        h("td", {}, h("span", { class: `badge ${verdict}`, text: verdict === "accepted" ? "Accepted" : "Rejected" })),
        h(
          "td",
          { class: "reasons" },
          reasons.length ? h("ul", {}, reasons.map((r) => h("li", { text: r }))) : null,
        ),
      );
      row._search = `${id}\n${reasons.join("\n")}`.toLowerCase();
      rows.push(row);
    }
    $("report-rows").replaceChildren(...rows);
    $("report").hidden = false;
    filterReport();
    showBuildForm(report);
  }

  function filterReport() {
    const want = $("report-filter").value;
    const q = $("report-search").value.trim().toLowerCase();
    let shown = 0;
    let all = 0;
    for (const row of $("report-rows").children) {
      all += 1;
      const ok = (want === "all" || row.dataset.status === want) && (!q || (row._search || "").includes(q));
      row.hidden = !ok;
      if (ok) shown += 1;
    }
    $("report-shown").textContent = shown === all ? `Showing all ${plural(all, "record")}.` : `Showing ${shown} of ${plural(all, "record")}.`;
  }

  function csvField(value) {
    let s = value === null || value === undefined ? "" : String(value);
    // A cell a spreadsheet would run as a formula is written as text.
    if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
    return /[",\r\n]/.test(s) || /^\s|\s$/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  }

  function downloadCsv() {
    const report = state.imp.report;
    if (!report) return;
    const lines = [["position", "id", "status", "reasons"].join(",")];
    for (const record of report.records) {
      if (!isObj(record)) continue;
      const reasons = Array.isArray(record.reasons) ? record.reasons.filter((r) => typeof r === "string") : [];
      lines.push(
        [record.position ?? "", str(record.id), str(record.status), reasons.join("; ")].map(csvField).join(","),
      );
    }
    const blob = new Blob([`${lines.join("\r\n")}\r\n`], { type: "text/csv;charset=utf-8" });
    const url = URL.createObjectURL(blob);
    const a = h("a", { href: url, download: `report-${state.imp.importId || "import"}.csv`, class: "visually-hidden" });
    document.body.append(a);
    a.click();
    a.remove();
    window.setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  // ---- build -----------------------------------------------------------------------------------------

  function showBuildForm(report) {
    $("build").hidden = false;
    resetBuildUi();
    const ratio = num(report.error_ratio) ?? 0;
    // Rounded up to 2 decimals, so a build with the rejected rows shown is allowed when asked for.
    const allowed = Math.min(1, Math.ceil(ratio * 100 - 1e-9) / 100);
    $("build-max-error").value = allowed.toFixed(2);
    const accepted = num(report.accepted) ?? 0;
    const hint = $("build-max-error-hint");
    if (accepted === 0) {
      hint.textContent = "No record was accepted: fix the records and import them again.";
      $("build-start").disabled = true;
    } else if (ratio > 0) {
      hint.textContent = `${percent(ratio, 1)} of the records were rejected. With ${allowed.toFixed(2)} the build goes ahead without them; lower it to refuse this import.`;
      $("build-start").disabled = false;
    } else {
      hint.textContent = "Every record was accepted.";
      $("build-start").disabled = false;
    }
  }

  function resetBuildUi() {
    $("build-progress").hidden = true;
    $("build-done").hidden = true;
    $("build-done").replaceChildren();
    $("build-error").hidden = true;
    $("build-error").replaceChildren();
    $("build-start").disabled = false;
    $("build-publish").checked = true;
    $("build-stage").textContent = "";
    $("build-count").textContent = "";
    $("build-eta").textContent = "";
  }

  function stageWords(stage) {
    const s = str(stage);
    return STAGES[s] || s || "Working";
  }

  /** Estimates the time left from the rate within the current stage. */
  function etaTracker() {
    let stage = null;
    let samples = [];
    return (progress) => {
      const now = performance.now();
      if (progress.stage !== stage) {
        stage = progress.stage;
        samples = [];
      }
      samples.push({ t: now, done: progress.done });
      if (samples.length > 120) samples.splice(1, samples.length - 120);
      if (samples.length < 2) return "estimating…";
      if (progress.total > 0 && progress.done >= progress.total) return "finishing this stage…";
      const first = samples[0];
      const last = samples[samples.length - 1];
      const dDone = last.done - first.done;
      const dt = (last.t - first.t) / 1000;
      if (dDone <= 0 || dt <= 0) return "estimating…";
      const left = (progress.total - progress.done) / (dDone / dt);
      return left < 5 ? "a few seconds left in this stage" : `about ${duration(left)} left in this stage`;
    };
  }

  function showProgress(job, eta) {
    const p = isObj(job.progress) ? job.progress : null;
    $("build-progress").hidden = false;
    const bar = $("build-bar");
    if (!p) {
      $("build-stage").textContent = "Starting…";
      bar.removeAttribute("value");
      $("build-count").textContent = "";
      $("build-eta").textContent = "";
      return;
    }
    const done = num(p.done) ?? 0;
    const total = num(p.total) ?? 0;
    $("build-stage").textContent = stageWords(p.stage);
    if (total > 0) {
      bar.max = total;
      bar.value = Math.min(done, total);
    } else {
      bar.removeAttribute("value");
    }
    bar.setAttribute("aria-label", `${stageWords(p.stage)}: ${done} of ${total}`);
    $("build-count").textContent = `${done} of ${total}`;
    $("build-eta").textContent = `· ${eta({ stage: p.stage, done, total })}`;
  }

  async function onBuild(event) {
    event.preventDefault();
    const imp = state.imp;
    if (!imp.importId || imp.building) return;
    const input = $("build-max-error");
    const max = Number(input.value);
    if (input.value.trim() === "" || !Number.isFinite(max) || max < 0 || max > 1) {
      showBuildError("The largest share of rejected records must be a number from 0 to 1.");
      input.focus();
      return;
    }
    const publish = $("build-publish").checked;
    const museum = state.museum;
    const epoch = state.epoch;
    resetBuildUi();
    $("build-publish").checked = publish;
    imp.building = true;
    $("build-start").disabled = true;
    importBusy(true);
    const eta = etaTracker();
    $("build-progress").hidden = false;
    $("build-stage").textContent = "Starting the build…";
    $("build-bar").removeAttribute("value");
    $("build-progress").scrollIntoView({ block: "nearest", behavior: smoothScroll() });
    try {
      const data = await call("POST", admin(museum, "/builds"), {
        json: { import_id: imp.importId, max_error_ratio: max, publish },
      });
      if (epoch !== state.epoch) return;
      const job = isObj(data.job) ? data.job : data;
      imp.buildJob = job.id;
      const finished = await pollJob(museum, job.id, { alive: alive(epoch), onUpdate: (j) => showProgress(j, eta) });
      if (!finished) return;
      $("build-progress").hidden = true;
      if (finished.state === "succeeded") showBuilt(museum, finished);
      else showBuildError(`The build stopped: ${sentence(finished.error) || "no reason was given."}`);
    } catch (e) {
      if (epoch !== state.epoch) return;
      $("build-progress").hidden = true;
      showBuildError(errorParts(e, "The build did not start:"));
    } finally {
      if (epoch === state.epoch) {
        imp.building = false;
        $("build-start").disabled = false;
        importBusy(false);
      }
    }
  }

  function showBuildError(message) {
    const box = $("build-error");
    box.replaceChildren(...(Array.isArray(message) ? message : [message]).map((m) => (m instanceof Node ? m : document.createTextNode(m))));
    box.hidden = false;
  }

  function showBuilt(museum, job) {
    const result = isObj(job.result) ? job.result : {};
    const version = str(result.version);
    const box = $("build-done");
    const parts = [h("p", { class: "done-line" }, h("strong", { text: `Built version ${version || "(unnamed)"}` }), ". ",
      result.published
        ? "It is published: visitors get it now."
        : "It is not published yet: publish it from Versions when you are ready.")];
    const facts = [];
    if (num(result.records_accepted) !== null) facts.push(`${result.records_accepted} of ${plural(result.records_total ?? result.records_accepted, "record")} built`);
    if (num(result.vectors) !== null) facts.push(plural(result.vectors, "image"));
    if (facts.length) parts.push(h("p", { class: "hint", text: `${facts.join(", ")}.` }));
    parts.push(h("p", {}, h("a", { href: museumHash(museum, "versions"), id: "build-versions-link", text: "See the versions" })));
    box.replaceChildren(...parts);
    box.hidden = false;
    loadProfile(museum);
  }

  // ---- versions -------------------------------------------------------------------------------------

  async function loadVersions({ quiet = false } = {}) {
    const museum = state.museum;
    const epoch = state.epoch;
    const seq = ++state.versions.seq;
    if (!quiet) say($("versions-status"), "Loading the versions…", { busy: true });
    try {
      const data = await call("GET", admin(museum, "/versions"));
      if (epoch !== state.epoch || seq !== state.versions.seq) return null;
      state.versions.data = data;
      renderVersions(museum, data);
      if (!quiet) say($("versions-status"), "");
      return data;
    } catch (e) {
      if (epoch !== state.epoch || seq !== state.versions.seq) return null;
      sayError($("versions-status"), e, "Could not load the versions:");
      return null;
    }
  }

  /** The version a rollback goes back to: the one before the published one. */
  function previousVersion(data) {
    const list = Array.isArray(data.versions) ? data.versions.filter((v) => typeof v === "string") : [];
    const i = list.indexOf(data.published);
    return i > 0 ? list[i - 1] : null;
  }

  function modelText(model) {
    if (typeof model === "string") return model;
    if (isObj(model)) return [str(model.id) || str(model.name), num(model.dim) ? `${model.dim}-d` : ""].filter(Boolean).join(", ");
    return "—";
  }

  function calibrationText(c) {
    if (!isObj(c)) return { main: "—", more: "" };
    const top1 = num(c.simulated_top1);
    const main = [
      top1 !== null ? `top-1 on simulated photos ${percent(top1 > 1 ? top1 / 100 : top1)}` : null,
      num(c.accept_score) !== null ? `accept ≥${fixed(c.accept_score, 2)}` : null,
      num(c.min_inliers) !== null ? `≥${c.min_inliers} inliers` : null,
    ]
      .filter(Boolean)
      .join(", ");
    const more = [
      num(c.queries) !== null ? `${c.queries} simulated queries` : null,
      num(c.genuine_p50) !== null ? `genuine median ${fixed(c.genuine_p50, 2)}` : null,
      num(c.unknown_p95) !== null ? `unknown 95th percentile ${fixed(c.unknown_p95, 2)}` : null,
    ]
      .filter(Boolean)
      .join(", ");
    return { main: main || "—", more };
  }

  function renderVersions(museum, data) {
    const published = str(data.published) || null;
    const serving = str(data.serving) || null;
    const details = Array.isArray(data.details) ? data.details.filter((d) => isObj(d) && typeof d.version === "string") : [];
    const byVersion = new Map(details.map((d) => [d.version, d]));
    const order = details.map((d) => d.version);
    const listed = Array.isArray(data.versions) ? data.versions.filter((v) => typeof v === "string") : [];
    for (const v of [...listed].reverse()) if (!byVersion.has(v)) order.push(v);

    const summary = $("versions-summary");
    summary.replaceChildren();
    if (!published) {
      summary.append(order.length ? "No version is published: visitors get nothing yet." : "No version yet: import a collection and build it.");
      if (!order.length) summary.append(" ", h("a", { href: museumHash(museum, "import"), text: "Go to Import" }));
    } else {
      summary.append("Visitors get version ", h("code", { text: published }), ".");
      if (serving && serving !== published) {
        summary.append(" ", h("strong", { class: "warn", text: `This server still serves ${serving}.` }));
      } else if (!serving) {
        summary.append(" ", h("strong", { class: "warn", text: "This server has not loaded it yet." }));
      }
    }

    const rows = order.map((version) => {
      const d = byVersion.get(version) || {};
      const live = version === published;
      const created = h("td", {}, formatDate(d.created_at) || "—");
      if (d.created_by) created.append(h("span", { class: "muted small block", text: `by ${d.created_by}` }));
      const cal = calibrationText(d.calibration);
      const status = h("td", { class: "status-cell" });
      if (live) {
        status.append(h("span", { class: "badge live", text: "Live — visitors get this" }));
        const when = [d.published_at ? `published ${formatDate(d.published_at)}` : "", d.published_by ? `by ${d.published_by}` : ""]
          .filter(Boolean)
          .join(" ");
        if (when) status.append(h("span", { class: "muted small block", text: when }));
      } else if (d.published_at) {
        status.append(
          h("span", {
            class: "muted small",
            text: `was published ${formatDate(d.published_at)}${d.published_by ? ` by ${d.published_by}` : ""}`,
          }),
        );
      }
      if (serving === version && serving !== published) {
        status.append(h("span", { class: "badge serving", text: "This server still serves this" }));
      }
      const action = h("td", { class: "action-cell" });
      if (!live) {
        action.append(
          h("button", {
            type: "button",
            class: "button small publish",
            text: "Publish",
            "aria-label": `Publish version ${version}`,
            "data-version": version,
            onclick: () => onPublish(version),
          }),
        );
      }
      return h(
        "tr",
        { "data-version": version, class: live ? "live" : null },
        h("th", { scope: "row" }, h("code", { text: version })),
        created,
        h("td", { class: "num", text: num(d.exhibits) !== null ? String(d.exhibits) : "—" }),
        h("td", { class: "num", text: num(d.vectors) !== null ? String(d.vectors) : "—" }),
        h("td", { text: d.model !== undefined ? modelText(d.model) : "—" }),
        h("td", {}, cal.main, cal.more ? h("span", { class: "muted small block", text: cal.more }) : null),
        status,
        action,
      );
    });
    $("versions-rows").replaceChildren(...rows);
    const prev = previousVersion(data);
    const rollback = $("rollback");
    rollback.disabled = !prev || state.versions.busy;
    rollback.title = prev ? `Visitors would get ${prev} again` : "There is no earlier version to go back to";
  }

  async function onPublish(version) {
    const data = state.versions.data || {};
    const current = str(data.published);
    const ok = await confirmAction(
      current
        ? `Publish version ${version}? Visitors get version ${version} at once, instead of ${current}.`
        : `Publish version ${version}? Visitors get it at once.`,
      `Publish ${version}`,
    );
    if (!ok) return;
    await switchVersion("/publish", { version }, `Publishing ${version}…`);
  }

  async function onRollback() {
    const data = state.versions.data || {};
    const prev = previousVersion(data);
    const current = str(data.published);
    if (!prev) return;
    const ok = await confirmAction(
      `Roll back to version ${prev}? Visitors get ${prev} again, instead of ${current}.`,
      `Roll back to ${prev}`,
    );
    if (!ok) return;
    await switchVersion("/rollback", {}, `Rolling back to ${prev}…`);
  }

  async function switchVersion(path, body, busyText) {
    const museum = state.museum;
    const epoch = state.epoch;
    const status = $("versions-status");
    state.versions.busy = true;
    setVersionButtons(true);
    say(status, busyText, { busy: true });
    try {
      const data = await call("POST", admin(museum, path), { json: body });
      if (epoch !== state.epoch) return;
      const live = str(data.published);
      await loadVersions({ quiet: true });
      if (epoch !== state.epoch) return;
      say(status, `Version ${live} is live`, { kind: "ok" });
      loadProfile(museum);
      followServing(museum, epoch, live);
    } catch (e) {
      if (epoch === state.epoch) sayError(status, e, "Nothing changed:");
    } finally {
      if (epoch === state.epoch) {
        state.versions.busy = false;
        setVersionButtons(false);
      }
    }
  }

  /** After a publish, refreshes the table (quietly) until this server serves the published version. */
  async function followServing(museum, epoch, version) {
    for (let i = 0; i < 20; i += 1) {
      const data = state.versions.data;
      if (epoch !== state.epoch || !data || data.published !== version || data.serving === version) return;
      await sleep(1000);
      if (epoch !== state.epoch || state.view !== "versions") return;
      await loadVersions({ quiet: true });
    }
  }

  function setVersionButtons(disabled) {
    for (const b of document.querySelectorAll("#versions-rows button.publish")) b.disabled = disabled;
    const data = state.versions.data;
    $("rollback").disabled = disabled || !data || !previousVersion(data);
  }

  // ---- the confirmation dialog -------------------------------------------------------------------------

  let confirmResolve = null;

  /** Asks with the #confirm dialog; resolves true on OK. */
  function confirmAction(text, okLabel) {
    const dialog = $("confirm");
    if (confirmResolve) confirmResolve(false);
    $("confirm-text").textContent = text;
    $("confirm-ok").textContent = okLabel || "Confirm";
    const opener = document.activeElement;
    return new Promise((resolve) => {
      confirmResolve = (value) => {
        confirmResolve = null;
        if (dialog.open) dialog.close();
        if (opener && typeof opener.focus === "function" && document.contains(opener)) opener.focus();
        resolve(value);
      };
      if (typeof dialog.showModal === "function") dialog.showModal();
      else dialog.setAttribute("open", "");
      $("confirm-cancel").focus();
    });
  }

  // ---- exhibits -----------------------------------------------------------------------------------------

  function enterExhibits() {
    const search = state.search;
    // Fresh each time (an edit or a build may have changed the list); the query and page stay.
    runSearch(search.loaded ? search.page : 1);
    search.loaded = true;
    showNothingPublished();
  }

  function showNothingPublished() {
    const p = state.profile;
    if (state.view !== "exhibits" || !p || p.published_version) return;
    nothingPublished();
  }

  function nothingPublished() {
    $("exhibits-list").replaceChildren();
    $("exhibits-page").textContent = "";
    $("exhibits-prev").disabled = true;
    $("exhibits-next").disabled = true;
    say($("exhibits-status"), [
      "Nothing is published yet for this museum. ",
      h("a", { href: museumHash(state.museum, "import"), text: "Import a collection" }),
      " and build it first.",
    ]);
  }

  function scheduleSearch() {
    window.clearTimeout(state.search.timer);
    state.search.timer = window.setTimeout(() => runSearch(1), SEARCH_DEBOUNCE_MS);
  }

  async function runSearch(page) {
    const search = state.search;
    window.clearTimeout(search.timer);
    if (search.controller) search.controller.abort();
    const museum = state.museum;
    const epoch = state.epoch;
    const q = $("exhibit-search").value.trim();
    const controller = new AbortController();
    search.controller = controller;
    const seq = ++search.seq;
    const status = $("exhibits-status");
    say(status, "Searching…", { busy: true });
    $("exhibits-list").setAttribute("aria-busy", "true");
    const params = new URLSearchParams();
    if (q) params.set("q", q);
    params.set("page", String(page));
    params.set("page_size", String(PAGE_SIZE));
    const lang = state.profile && str(state.profile.default_lang);
    if (lang && LANG_TAG.test(lang)) params.set("lang", lang);
    try {
      const data = await call("GET", `/api/v1/museums/${enc(museum)}/exhibits?${params}`, {
        signal: controller.signal,
        auth: false,
      });
      if (epoch !== state.epoch || seq !== search.seq) return;
      const items = Array.isArray(data.items) ? data.items.filter((i) => isObj(i) && typeof i.id === "string") : [];
      search.q = q;
      search.page = num(data.page) || page;
      search.total = num(data.total) ?? items.length;
      renderExhibits(museum, items);
      const pages = Math.max(1, Math.ceil(search.total / PAGE_SIZE));
      $("exhibits-page").textContent = search.total ? `Page ${search.page} of ${pages}` : "";
      $("exhibits-prev").disabled = search.page <= 1;
      $("exhibits-next").disabled = search.page >= pages;
      if (search.total === 0) {
        if (q) say(status, `Nothing found for “${q}”.`);
        else if (state.profile && !state.profile.published_version) nothingPublished();
        else say(status, "The published version has no exhibits.");
      } else {
        const from = (search.page - 1) * PAGE_SIZE + 1;
        const to = from + items.length - 1;
        say(status, `${q ? `${plural(search.total, "result")} for “${q}”` : plural(search.total, "exhibit")}; showing ${from}–${to}.`);
      }
    } catch (e) {
      if (controller.signal.aborted || epoch !== state.epoch || seq !== search.seq) return;
      if (e instanceof ApiError && (e.code === "not_published" || e.code === "museum_not_found")) nothingPublished();
      else sayError(status, e, "The search failed:");
    } finally {
      if (seq === search.seq) {
        $("exhibits-list").setAttribute("aria-busy", "false");
        search.controller = null;
      }
    }
  }

  function renderExhibits(museum, items) {
    $("exhibits-list").replaceChildren(
      ...items.map((item) => {
        const thumb = mediaUrl(item.thumbnail) || mediaUrl(item.image);
        const title = str(item.title) || item.id;
        const meta = [
          str(item.accession_number) ? `No. ${item.accession_number}` : `Id ${item.id}`,
          str(item.period),
          str(item.maker),
        ].filter(Boolean);
        return h(
          "li",
          {},
          h(
            "a",
            { class: "exhibit", href: exhibitHash(museum, item.id), "data-exhibit": item.id },
            h(
              "span",
              { class: "exhibit-thumb" },
              thumb ? h("img", { src: thumb, alt: "", loading: "lazy", width: 64, height: 64 }) : null,
            ),
            h(
              "span",
              { class: "exhibit-text" },
              h("span", { class: "exhibit-title", text: title }),
              h("span", { class: "exhibit-meta", text: meta.join(" · ") }),
            ),
          ),
        );
      }),
    );
  }

  // ---- one exhibit: view and edit --------------------------------------------------------------------------

  const TEXT_FIELDS = [
    ["title", "edit-title"],
    ["description", "edit-description"],
    ["maker", "edit-maker"],
    ["period", "edit-period"],
    ["material", "edit-material"],
    ["gallery", "edit-gallery"],
  ];
  /** Every language map of a record (for the language picker). */
  const LANG_MAPS = ["title", "description", "maker", "period", "material", "gallery", "culture", "audio"];

  function enterExhibit(id) {
    const ex = state.ex;
    $("exhibit-back").href = museumHash(state.museum, "exhibits");
    if (ex.id === id && ex.busy) return;
    loadExhibit(id);
  }

  async function loadExhibit(id, { keepStatus = false } = {}) {
    const ex = state.ex;
    const museum = state.museum;
    const epoch = state.epoch;
    const seq = ++ex.seq;
    ex.id = id;
    ex.data = null;
    ex.draft = null;
    $("exhibit-heading").textContent = `Exhibit ${id}`;
    $("exhibit-meta").textContent = "";
    $("exhibit-body").hidden = true;
    if (!keepStatus) say($("exhibit-status"), "");
    const status = $("exhibit-load-status");
    if (!EXHIBIT_ID.test(id)) {
      say(status, "This is not an exhibit id.", { kind: "error" });
      return;
    }
    say(status, "Loading the exhibit…", { busy: true });
    try {
      const data = await call("GET", admin(museum, `/exhibits/${enc(id)}`));
      if (epoch !== state.epoch || seq !== ex.seq) return;
      say(status, "");
      showExhibit(museum, id, data);
    } catch (e) {
      if (epoch !== state.epoch || seq !== ex.seq) return;
      if (e instanceof ApiError && e.code === "exhibit_not_found") {
        say(status, [
          `Exhibit ${id} is not in the published version. `,
          h("a", { href: museumHash(museum, "exhibits"), text: "Back to the exhibits" }),
        ], { kind: "error" });
      } else if (e instanceof ApiError && e.code === "not_published") {
        say(status, ["Nothing is published yet. ", h("a", { href: museumHash(museum, "import"), text: "Go to Import" })], {
          kind: "error",
        });
      } else {
        sayError(status, e, "Could not load the exhibit:");
      }
    }
  }

  function recordLangs(record) {
    const langs = new Set();
    for (const field of LANG_MAPS) {
      if (isObj(record[field])) for (const k of Object.keys(record[field])) if (LANG_TAG.test(k)) langs.add(k);
    }
    if (isObj(record.date) && isObj(record.date.display)) {
      for (const k of Object.keys(record.date.display)) if (LANG_TAG.test(k)) langs.add(k);
    }
    const def = state.profile && str(state.profile.default_lang);
    return [...langs].sort((a, b) => (a === def ? -1 : b === def ? 1 : a.localeCompare(b)));
  }

  function showExhibit(museum, id, data) {
    const ex = state.ex;
    const record = isObj(data.record) ? data.record : {};
    ex.data = data;
    ex.draft = JSON.parse(JSON.stringify(record));
    ex.audioLangTouched = false;
    const title = pick(record.title, preferredLangs()) || id;
    $("exhibit-heading").textContent = title;
    const meta = [`Id ${id}`];
    if (str(record.accession_number)) meta.push(`accession number ${record.accession_number}`);
    if (str(data.version)) meta.push(`in version ${data.version}`);
    $("exhibit-meta").textContent = meta.join(" · ");

    renderExhibitMedia(record, data.media, title);

    const langs = recordLangs(record);
    const def = state.profile && str(state.profile.default_lang);
    ex.langs = langs.length ? langs : [def || "zh"];
    renderLangOptions();
    setEditLang(ex.langs.includes(def) ? def : ex.langs[0]);
    $("edit-accession").value = str(record.accession_number);
    $("edit-dimensions").value = str(record.dimensions);
    $("edit-images").value = "";
    $("edit-audio").value = "";
    $("edit-lang-new-row").hidden = true;
    setExhibitBusy(false);
    $("exhibit-body").hidden = false;
  }

  function renderExhibitMedia(record, media, title) {
    const images = isObj(media) && Array.isArray(media.images) ? media.images.filter(isObj) : [];
    const list = $("exhibit-images");
    if (images.length) {
      list.replaceChildren(
        ...images.map((img, i) => {
          const thumb = mediaUrl(img.thumbnail_url) || mediaUrl(img.display_url);
          const full = mediaUrl(img.display_url) || thumb;
          const alt = `${title}, image ${i + 1} of ${images.length}`;
          const picture = thumb ? h("img", { src: thumb, alt, loading: "lazy" }) : h("span", { text: alt });
          return h(
            "li",
            {},
            full ? h("a", { href: full, target: "_blank", rel: "noopener noreferrer" }, picture) : picture,
            h("span", { class: "muted small caption", text: str(img.source) }),
          );
        }),
      );
    } else {
      const names = Array.isArray(record.images) ? record.images.filter((n) => typeof n === "string") : [];
      list.replaceChildren(
        names.length
          ? h("li", { class: "muted", text: `Image files: ${names.join(", ")}` })
          : h("li", { class: "muted", text: "No image." }),
      );
    }
    const audio = isObj(media) && isObj(media.audio) ? media.audio : {};
    const entries = Object.entries(audio).filter(([lang, url]) => LANG_TAG.test(lang) && mediaUrl(url));
    $("exhibit-audio").replaceChildren(
      ...(entries.length
        ? entries.map(([lang, url]) => {
            const labelId = `exhibit-audio-${lang}`;
            return h(
              "li",
              {},
              h("span", { id: labelId, class: "audio-lang", text: `Audio guide (${lang})` }),
              h("audio", { controls: true, preload: "none", src: mediaUrl(url), "aria-labelledby": labelId }),
            );
          })
        : [h("li", { class: "muted", text: "No audio guide." })]),
    );
  }

  let languageNames = null;

  /** "zh (Chinese)": the tag, with its English name where the browser knows it. */
  function langLabel(tag) {
    try {
      if (!languageNames && typeof Intl.DisplayNames === "function") {
        languageNames = new Intl.DisplayNames([UI_LANG], { type: "language" });
      }
      const name = languageNames ? languageNames.of(tag) : "";
      return name && name.toLowerCase() !== tag.toLowerCase() ? `${tag} (${name})` : tag;
    } catch {
      return tag;
    }
  }

  function renderLangOptions() {
    const ex = state.ex;
    const select = $("edit-lang");
    select.replaceChildren(
      ...ex.langs.map((lang) => h("option", { value: lang, text: langLabel(lang) })),
      h("option", { value: ADD_LANG, text: "Add language…" }),
    );
    if (ex.lang) select.value = ex.lang;
  }

  function setEditLang(lang) {
    const ex = state.ex;
    ex.lang = lang;
    $("edit-lang").value = lang;
    for (const [field, id] of TEXT_FIELDS) {
      const input = $(id);
      input.value = isObj(ex.draft[field]) ? str(ex.draft[field][lang]) : "";
      input.lang = lang;
    }
    if (!ex.audioLangTouched) $("edit-audio-lang").value = lang;
  }

  function onEditLangChange() {
    const select = $("edit-lang");
    if (select.value === ADD_LANG) {
      select.value = state.ex.lang;
      $("edit-lang-new-row").hidden = false;
      $("edit-lang-new").value = "";
      $("edit-lang-new").focus();
      return;
    }
    setEditLang(select.value);
  }

  function addEditLang() {
    const input = $("edit-lang-new");
    const tag = input.value.trim();
    const status = $("exhibit-status");
    if (!LANG_TAG.test(tag)) {
      say(status, `"${tag || "(empty)"}" is not a language tag: use one such as ja, fr or zh-Hant.`, { kind: "error" });
      input.focus();
      return;
    }
    const ex = state.ex;
    const existing = ex.langs.find((l) => l.toLowerCase() === tag.toLowerCase());
    if (!existing) ex.langs.push(tag);
    say(status, "");
    $("edit-lang-new-row").hidden = true;
    renderLangOptions();
    setEditLang(existing || tag);
    $("edit-title").focus();
  }

  function cancelEditLang() {
    $("edit-lang-new-row").hidden = true;
    $("edit-lang").focus();
  }

  function onTextEdit(field, input) {
    const ex = state.ex;
    if (!ex.draft) return;
    if (!isObj(ex.draft[field])) ex.draft[field] = {};
    if (input.value.trim() === "") delete ex.draft[field][ex.lang];
    else ex.draft[field][ex.lang] = input.value;
  }

  function onPlainEdit(field, input) {
    const ex = state.ex;
    if (!ex.draft) return;
    if (field === "dimensions" && input.value.trim() === "") delete ex.draft.dimensions;
    else ex.draft[field] = input.value;
  }

  function setExhibitBusy(busy) {
    state.ex.busy = busy;
    $("exhibit-save").disabled = busy;
    $("exhibit-delete").disabled = busy;
  }

  /** The record to send: every language, trimmed; no `images` (the server keeps or replaces them). */
  function recordToSend(audioName, audioLang) {
    const record = JSON.parse(JSON.stringify(state.ex.draft));
    for (const field of TEXT_FIELDS.map(([f]) => f)) {
      if (!isObj(record[field])) continue;
      for (const [lang, value] of Object.entries(record[field])) {
        const v = str(value).trim();
        if (v) record[field][lang] = v;
        else delete record[field][lang];
      }
    }
    record.accession_number = str(record.accession_number).trim();
    if (typeof record.dimensions === "string") {
      record.dimensions = record.dimensions.trim();
      if (!record.dimensions) delete record.dimensions;
    }
    delete record.images;
    record.audio = audioName ? { [audioLang]: audioName } : {};
    return record;
  }

  async function onSaveExhibit(event) {
    event.preventDefault();
    const ex = state.ex;
    if (!ex.draft || ex.busy) return;
    const status = $("exhibit-status");
    const id = ex.id;
    const images = [...($("edit-images").files || [])];
    const audio = $("edit-audio").files && $("edit-audio").files[0];
    const audioLang = $("edit-audio-lang").value.trim();
    if (audio && !LANG_TAG.test(audioLang)) {
      say(status, "Give the audio guide's language as a tag such as en, zh or ja.", { kind: "error" });
      $("edit-audio-lang").focus();
      return;
    }
    const record = recordToSend(audio ? audio.name : "", audioLang);
    if (!record.accession_number) {
      say(status, "The accession number may not be empty.", { kind: "error" });
      $("edit-accession").focus();
      return;
    }
    if (!isObj(record.title) || Object.keys(record.title).length === 0) {
      say(status, "The exhibit needs a title in at least one language.", { kind: "error" });
      $("edit-title").focus();
      return;
    }
    const form = new FormData();
    form.append("record", new Blob([JSON.stringify(record)], { type: "application/json" }), "record.json");
    for (const file of images) form.append("image", file, file.name);
    if (audio) form.append("audio", audio, audio.name);
    const museum = state.museum;
    const epoch = state.epoch;
    const seq = ex.seq;
    const stillHere = () => epoch === state.epoch && seq === state.ex.seq;
    setExhibitBusy(true);
    say(status, "Saving…", { busy: true });
    try {
      const data = await upload("PUT", admin(museum, `/exhibits/${enc(id)}`), form, (loaded, total) => {
        if (stillHere() && total > 256 * 1024 && loaded < total) {
          say(status, `Saving… uploading ${Math.round((loaded / total) * 100)}%`, { busy: true });
        }
      });
      if (!stillHere()) return;
      say(status, "Saving…", { busy: true });
      const job = await pollJob(museum, data.job.id, {
        alive: stillHere,
        onUpdate: (j) => {
          const p = isObj(j.progress) ? j.progress : null;
          if (j.state === "running") say(status, p ? `Saving… ${stageWords(p.stage).toLowerCase()}` : "Saving…", { busy: true });
        },
      });
      if (!job) return;
      if (job.state !== "succeeded") {
        say(status, `The change was not saved: ${sentence(job.error) || "no reason was given."}`, { kind: "error" });
        return;
      }
      const result = isObj(job.result) ? job.result : {};
      const rejected = Array.isArray(result.rejected) ? result.rejected.filter(isObj) : [];
      if (rejected.length && !(Array.isArray(result.upserted) && result.upserted.includes(id))) {
        const reasons = rejected.flatMap((r) => (Array.isArray(r.reasons) ? r.reasons : [])).filter((r) => typeof r === "string");
        say(status, `The change was refused: ${reasons.join("; ") || "no reason was given."}`, { kind: "error" });
        return;
      }
      const version = str(result.version);
      if (result.published === false) {
        say(status, `Built version ${version}; it is not published yet (see Versions).`, { kind: "ok" });
        return;
      }
      say(status, `Built version ${version}, going live…`, { busy: true });
      const live = await waitServing(museum, version, { alive: stillHere });
      if (!stillHere()) return;
      if (!live) {
        say(status, `Built and published version ${version}, but this server is not serving it yet. Check Versions in a moment.`);
        return;
      }
      await loadExhibit(id, { keepStatus: true });
      say(status, "Live now: visitors see this change", { kind: "ok" });
    } catch (e) {
      if (stillHere()) sayError(status, e, "The change was not saved:");
    } finally {
      if (stillHere()) setExhibitBusy(false);
    }
  }

  async function onDeleteExhibit() {
    const ex = state.ex;
    if (!ex.draft || ex.busy) return;
    const id = ex.id;
    const title = pick(ex.draft.title, preferredLangs()) || id;
    const ok = await confirmAction(
      `Delete exhibit ${id} (${title})? A new version without it is built and goes live for visitors.`,
      "Delete the exhibit",
    );
    if (!ok) return;
    const status = $("exhibit-status");
    const museum = state.museum;
    const epoch = state.epoch;
    const seq = ex.seq;
    const stillHere = () => epoch === state.epoch && seq === state.ex.seq;
    setExhibitBusy(true);
    say(status, "Deleting…", { busy: true });
    let deleted = false;
    try {
      const data = await call("DELETE", admin(museum, `/exhibits/${enc(id)}`));
      if (!stillHere()) return;
      const job = await pollJob(museum, data.job.id, { alive: stillHere });
      if (!job) return;
      if (job.state !== "succeeded") {
        say(status, `The exhibit was not deleted: ${sentence(job.error) || "no reason was given."}`, { kind: "error" });
        return;
      }
      const version = str(job.result && job.result.version);
      say(status, `Built version ${version}, going live…`, { busy: true });
      const live = version ? await waitServing(museum, version, { alive: stillHere }) : false;
      if (!stillHere()) return;
      deleted = true;
      const back = h("a", { href: museumHash(museum, "exhibits"), id: "exhibit-deleted-back", text: "Back to the exhibits" });
      say(status, [live ? "Deleted; live now. " : `Deleted in version ${version}; this server is not serving it yet. `, back], {
        kind: "ok",
      });
      $("exhibit-save").disabled = true;
      $("exhibit-delete").disabled = true;
      state.search.loaded = false;
    } catch (e) {
      if (stillHere()) sayError(status, e, "The exhibit was not deleted:");
    } finally {
      if (stillHere() && !deleted) setExhibitBusy(false);
      else if (stillHere()) state.ex.busy = false;
    }
  }

  // ---- try a photo ---------------------------------------------------------------------------------------

  const resize = (file) => window.MuseumPhoto.resize(file);

  async function onTry(event) {
    event.preventDefault();
    const run = state.tryRun;
    const status = $("try-status");
    const file = $("try-file").files && $("try-file").files[0];
    if (!file) {
      say(status, "Choose a photo first.", { kind: "error" });
      $("try-file").focus();
      return;
    }
    const lang = $("try-lang").value;
    const museum = state.museum;
    const epoch = state.epoch;
    const seq = ++run.seq;
    const stillHere = () => epoch === state.epoch && seq === state.tryRun.seq;
    $("try-submit").disabled = true;
    say(status, "Preparing the photo…", { busy: true });
    let photo;
    try {
      photo = await resize(file);
    } catch {
      photo = file;
    }
    if (!stillHere()) return;
    if (run.photoUrl) URL.revokeObjectURL(run.photoUrl);
    run.photoUrl = URL.createObjectURL(photo);
    say(status, "Recognising…", { busy: true });
    try {
      const form = new FormData();
      form.append("file", photo, photo === file ? file.name : "photo.jpg");
      form.append("lang", lang);
      const data = await call("POST", admin(museum, "/try"), { form, timeout: TRY_TIMEOUT_MS });
      if (!stillHere()) return;
      renderTry(museum, data, run.photoUrl);
      say(status, "");
    } catch (e) {
      if (stillHere()) sayError(status, e, "The photo could not be tried:");
    } finally {
      if (stillHere()) $("try-submit").disabled = false;
    }
  }

  /** A crop (fractions of the photo) in words: "whole photo", "centre 80%", "top-left 60%". */
  function cropWords(crop) {
    if (!isObj(crop)) return "whole photo";
    const left = num(crop.left) ?? 0;
    const top = num(crop.top) ?? 0;
    const width = num(crop.width) ?? 1;
    const height = num(crop.height) ?? 1;
    const near = (a, b) => Math.abs(a - b) < 0.02;
    if (width >= 0.98 && height >= 0.98) return "whole photo";
    const size = near(width, height) ? `${Math.round(width * 100)}%` : `${Math.round(width * 100)}% × ${Math.round(height * 100)}%`;
    const right = left + width;
    const bottom = top + height;
    const hpos = near(left, (1 - width) / 2) ? "centre" : near(left, 0) ? "left" : near(right, 1) ? "right" : null;
    const vpos = near(top, (1 - height) / 2) ? "centre" : near(top, 0) ? "top" : near(bottom, 1) ? "bottom" : null;
    if (hpos === "centre" && vpos === "centre") return `centre ${size}`;
    if (hpos && vpos) {
      if (vpos === "centre") return `${hpos} ${size}`;
      if (hpos === "centre") return `${vpos} ${size}`;
      return `${vpos}-${hpos} ${size}`;
    }
    return `region at ${Math.round(left * 100)}%, ${Math.round(top * 100)}% (${size})`;
  }

  function renderTry(museum, data, photoUrl) {
    const answer = isObj(data.answer) ? data.answer : {};
    const diag = isObj(data.diagnostics) ? data.diagnostics : {};
    const cal = isObj(diag.calibration) ? diag.calibration : {};
    const crops = Array.isArray(diag.crops) ? diag.crops : [];
    const candidates = Array.isArray(diag.candidates) ? diag.candidates.filter((c) => isObj(c)) : [];
    const best = candidates[0] || null;
    const bestCrop = best && Number.isInteger(best.crop) ? best.crop : null;

    // The photo, with the matched crop outlined.
    const frame = h("div", { class: "photo-frame" }, h("img", { src: photoUrl, alt: "The photo you tried", class: "try-img" }));
    if (diag.closer_look && crops.length > 1) {
      crops.forEach((crop, i) => {
        if (i === bestCrop || !isObj(crop) || cropWords(crop) === "whole photo") return;
        frame.append(cropBox(crop, "crop tried"));
      });
    }
    let caption = "No exhibit matched any part of the photo.";
    if (best) {
      const crop = bestCrop !== null && isObj(crops[bestCrop]) ? crops[bestCrop] : { left: 0, top: 0, width: 1, height: 1 };
      frame.append(cropBox(crop, "crop matched"));
      caption = `The outline shows where the best candidate matched: ${cropWords(crop)}.`;
      if (diag.closer_look) caption += " The photo got a closer look: parts of it were tried too (dashed).";
    }
    $("try-photo").replaceChildren(frame, h("p", { class: "hint", text: caption }));

    $("try-answer").replaceChildren(...answerNodes(museum, answer));
    $("try-bars").replaceChildren(...barNodes(best, candidates, cal, diag));

    $("try-candidate-rows").replaceChildren(
      ...candidates.map((c, i) => {
        const thumb = mediaUrl(c.thumbnail);
        const score = num(c.score);
        const inliers = num(c.inliers);
        const bar = num(c.inlier_bar) ?? num(cal.min_inliers);
        const reaches = inliers !== null && bar !== null && inliers >= bar;
        const crop = Number.isInteger(c.crop) && isObj(crops[c.crop]) ? crops[c.crop] : null;
        return h(
          "tr",
          { "data-exhibit": str(c.id), class: i === 0 ? "best" : null },
          h("td", { class: "num", text: String(i + 1) }),
          h("td", {}, thumb ? h("img", { src: thumb, alt: "", class: "cand-thumb", width: 48, height: 48, loading: "lazy" }) : null),
          h(
            "th",
            { scope: "row" },
            typeof c.id === "string" && EXHIBIT_ID.test(c.id)
              ? h("a", { href: exhibitHash(museum, c.id), text: str(c.title) || c.id })
              : h("span", { text: str(c.title) || str(c.id) }),
            h("span", { class: "muted small block", text: str(c.id) }),
          ),
          h("td", { class: `num ${score !== null && num(cal.accept_score) !== null && score >= cal.accept_score ? "pass" : ""}`, text: fixed(score, 3) }),
          h(
            "td",
            { class: `num ${reaches ? "pass" : "fail"}` },
            `${inliers ?? "—"} (bar ${bar ?? "—"}) `,
            h("span", { class: "small", text: reaches ? "reaches it" : "below it" }),
          ),
          h("td", {}, crop ? cropWords(crop) : c.crop === undefined || c.crop === null ? "keypoint vote (no window)" : "—", str(c.image) ? h("span", { class: "muted small block", text: `image ${c.image}` }) : null),
        );
      }),
    );
    if (candidates.length === 0) {
      $("try-candidate-rows").replaceChildren(h("tr", {}, h("td", { colspan: 6, class: "muted", text: "The shortlist is empty." })));
    }

    $("try-advice").replaceChildren(...adviceNodes(answer, best, candidates, cal).map((a) => h("li", {}, a)));
    $("try-result").hidden = false;
  }

  function cropBox(crop, className) {
    const box = h("div", { class: className, "aria-hidden": "true" });
    const clamp = (v) => Math.max(0, Math.min(1, num(v) ?? 0));
    // Sized through the CSSOM (allowed by the CSP), in percentages of the photo.
    box.style.left = `${clamp(crop.left) * 100}%`;
    box.style.top = `${clamp(crop.top) * 100}%`;
    box.style.width = `${Math.min(clamp(crop.width), 1 - clamp(crop.left)) * 100}%`;
    box.style.height = `${Math.min(clamp(crop.height), 1 - clamp(crop.top)) * 100}%`;
    return box;
  }

  function answerNodes(museum, answer) {
    const nodes = [];
    const tips = Array.isArray(answer.tips) ? answer.tips.filter((t) => typeof t === "string") : [];
    const status = str(answer.status);
    if (status === "matched" && isObj(answer.exhibit)) {
      const card = answer.exhibit;
      const title = str(card.title) || str(card.id);
      nodes.push(h("p", { class: "answer-status matched" }, h("span", { class: "badge accepted", text: "Matched" }), ` The visitor gets the card of ${title}.`));
      const images = Array.isArray(card.images) ? card.images : [];
      const src = mediaUrl(images[0]) || (Array.isArray(card.thumbnails) ? mediaUrl(card.thumbnails[0]) : null);
      const figure = h("figure", { class: "answer-card" });
      if (src) figure.append(h("img", { src, alt: title, class: "answer-img" }));
      figure.append(
        h(
          "figcaption",
          {},
          typeof card.id === "string" && EXHIBIT_ID.test(card.id)
            ? h("a", { href: exhibitHash(museum, card.id), text: title })
            : title,
          h("span", { class: "muted small block", text: [str(card.period), str(card.maker), str(card.lang) ? `in ${card.lang}` : ""].filter(Boolean).join(" · ") }),
        ),
      );
      nodes.push(figure);
      const facts = [num(answer.score) !== null ? `similarity ${fixed(answer.score, 3)}` : "", num(answer.inliers) !== null ? `${answer.inliers} inliers` : ""].filter(Boolean);
      if (facts.length) nodes.push(h("p", { class: "hint", text: facts.join(" · ") }));
    } else if (status === "ambiguous") {
      nodes.push(h("p", { class: "answer-status ambiguous" }, h("span", { class: "badge ambiguous", text: "Not sure" }), " The visitor is asked to choose between these:"));
      const alts = Array.isArray(answer.alternatives) ? answer.alternatives.filter(isObj) : [];
      nodes.push(
        h(
          "ul",
          { class: "alt-list" },
          alts.map((a) => {
            const thumb = mediaUrl(a.thumbnail);
            return h(
              "li",
              {},
              thumb ? h("img", { src: thumb, alt: "", width: 48, height: 48, class: "cand-thumb" }) : null,
              h("span", {}, str(a.title) || str(a.id), h("span", { class: "muted small block", text: `similarity ${fixed(a.score, 3)}${a.museum && a.museum !== museum ? ` · ${a.museum}` : ""}` })),
            );
          }),
        ),
      );
    } else {
      nodes.push(h("p", { class: "answer-status no-match" }, h("span", { class: "badge rejected", text: "No match" }), ` ${reasonWords(answer.reason)}`));
    }
    if (tips.length) {
      nodes.push(h("h4", { text: "Tips the visitor sees" }), h("ul", { class: "tips" }, tips.map((t) => h("li", { text: t }))));
    }
    return nodes;
  }

  function reasonWords(reason) {
    switch (reason) {
      case "not_recognised":
        return "The visitor is told the exhibit was not recognised.";
      case "empty_collection":
        return "The collection is empty: nothing is published to match against.";
      case "several_exhibits_fit":
        return "Several exhibits fit.";
      default:
        return "The visitor is told the exhibit was not recognised.";
    }
  }

  /** A bar of `value` on a scale to `max`, with the threshold marked. */
  function bar(value, max, threshold, pass) {
    const track = h("div", { class: `bar ${pass ? "pass" : "fail"}`, "aria-hidden": "true" });
    const fill = h("div", { class: "bar-fill" });
    const mark = h("div", { class: "bar-mark" });
    const scale = max > 0 ? max : 1;
    fill.style.width = `${Math.max(0, Math.min(1, value / scale)) * 100}%`;
    mark.style.left = `${Math.max(0, Math.min(1, threshold / scale)) * 100}%`;
    track.append(fill, mark);
    return track;
  }

  function barNodes(best, candidates, cal, diag) {
    if (!best) return [h("p", { text: "No candidate came back, so there is nothing to measure." })];
    const nodes = [];
    const title = str(best.title) || str(best.id);
    nodes.push(h("p", {}, "Best candidate: ", h("strong", { text: title }), best.id ? ` (${best.id})` : ""));
    const score = num(best.score) ?? 0;
    const accept = num(cal.accept_score);
    if (accept !== null) {
      const pass = score >= accept;
      nodes.push(
        h(
          "div",
          { class: "bar-row", id: "try-bar-similarity" },
          h("p", {
            class: "bar-text",
            text: `similarity ${score.toFixed(2)} — the bar is ${accept.toFixed(2)}: ${pass ? "similar enough" : "not enough alone"}`,
          }),
          bar(score, 1, accept, pass),
        ),
      );
    }
    const inliers = num(best.inliers) ?? 0;
    const inlierBar = num(best.inlier_bar) ?? num(cal.min_inliers);
    if (inlierBar !== null) {
      const pass = inliers >= inlierBar;
      nodes.push(
        h(
          "div",
          { class: "bar-row", id: "try-bar-inliers" },
          h("p", {
            class: "bar-text",
            text: `${plural(inliers, "inlier")} — the bar is ${inlierBar}: ${pass ? "geometry confirms it" : "geometry does not confirm it"}`,
          }),
          bar(inliers, Math.max(inliers, inlierBar) * 1.25, inlierBar, pass),
        ),
      );
    }
    const second = candidates[1];
    const margin = num(cal.accept_margin);
    if (second && margin !== null && num(second.score) !== null) {
      const lead = score - second.score;
      nodes.push(
        h("p", {
          class: "hint",
          text: `Lead over the next candidate: ${lead.toFixed(3)} (a match by similarity needs ${margin.toFixed(3)}).`,
        }),
      );
    }
    const decided = {
      inliers: "Decided by geometry: the matching keypoints confirmed the exhibit.",
      similarity: "Decided by similarity alone.",
      none: "Nothing decided it: no candidate passed a bar.",
    }[str(diag.decided_by)];
    if (decided) nodes.push(h("p", { class: "decided", text: decided }));
    return nodes;
  }

  function adviceNodes(answer, best, candidates, cal) {
    const advice = [];
    const status = str(answer.status);
    if (answer.reason === "empty_collection" || candidates.length === 0) {
      advice.push("Nothing came back: check that this museum has a published version with this exhibit.");
    }
    const reached = candidates.some((c) => {
      const barValue = num(c.inlier_bar) ?? num(cal.min_inliers);
      return num(c.inliers) !== null && barValue !== null && c.inliers >= barValue;
    });
    if (candidates.length && !reached && status !== "matched") {
      advice.push("No candidate reached the inlier bar: is this exhibit in the collection? Add a photo from this angle.");
    }
    if (best && num(cal.accept_score) !== null && num(best.score) !== null && best.score < cal.accept_score && status !== "matched") {
      advice.push("The best similarity is under the bar: add photos of this exhibit taken in the gallery's light, from where visitors stand.");
    }
    if (status === "ambiguous") {
      advice.push("Several exhibits fit: see Health for look-alikes, and add photos that show what tells them apart.");
    }
    if (status === "matched") advice.push("Nothing to do: a visitor with this photo gets the right card.");
    const tips = Array.isArray(answer.tips) ? answer.tips.filter((t) => typeof t === "string") : [];
    for (const tip of tips) advice.push(`The visitor is told: ${tip}`);
    return advice;
  }

  // ---- health and analytics -------------------------------------------------------------------------------

  async function loadHealth() {
    const museum = state.museum;
    const epoch = state.epoch;
    const seq = ++state.health.seq;
    const current = () => epoch === state.epoch && seq === state.health.seq;
    const status = $("health-status");
    say(status, "Checking the collection…", { busy: true });
    say($("analytics-status"), "Loading the recognitions…", { busy: true });
    const healthCall = call("GET", admin(museum, "/health"));
    const analyticsCall = call("GET", admin(museum, "/analytics?top=10"));
    // Each is shown when it comes; one failing does not hide the other.
    healthCall.then(
      (data) => {
        if (!current()) return;
        say(status, "");
        renderHealth(museum, data);
      },
      (e) => {
        if (!current()) return;
        $("health-findings").replaceChildren();
        $("health-summary").textContent = "";
        if (e instanceof ApiError && e.code === "not_published") {
          say(status, ["Nothing is published yet, so there is nothing to check. ", h("a", { href: museumHash(museum, "import"), text: "Go to Import" })]);
        } else {
          sayError(status, e, "Could not check the collection:");
        }
      },
    );
    analyticsCall.then(
      (data) => {
        if (!current()) return;
        say($("analytics-status"), "");
        renderAnalytics(museum, data);
      },
      (e) => {
        if (!current()) return;
        destroyCharts();
        $("analytics-summary").textContent = "";
        $("top-exhibits").replaceChildren();
        $("most-missed").replaceChildren();
        $("daily-rows").replaceChildren();
        if (e instanceof ApiError && (e.code === "store_unavailable" || e.status === 503)) {
          say(
            $("analytics-status"),
            [
              "The recognition counts are unavailable right now: their store does not answer. Try again later; the findings above are not affected.",
              e.requestId ? h("span", { class: "ref", text: ` (request id ${e.requestId})` }) : null,
            ],
            { kind: "error" },
          );
        } else {
          sayError($("analytics-status"), e, "Could not load the recognitions:");
        }
      },
    );
    await Promise.allSettled([healthCall, analyticsCall]);
  }

  function renderHealth(museum, data) {
    const counts = isObj(data.counts) ? data.counts : {};
    const findings = Array.isArray(data.findings) ? data.findings.filter((f) => isObj(f) && typeof f.id === "string") : [];
    const c = (k) => num(counts[k]) ?? 0;
    const summary = $("health-summary");
    summary.replaceChildren(
      `Version ${str(data.version) || "—"}: ${plural(num(data.exhibits) ?? 0, "exhibit")}, ${plural(num(data.images) ?? 0, "image")}. `,
      findings.length
        ? `${plural(findings.length, "exhibit")} could be recognised better: ${c("look_alike")} look alike, ${c("few_keypoints")} with few keypoints, ${c("single_view")} with a single view.`
        : "No problem found.",
    );
    $("health-findings").replaceChildren(
      ...findings.map((f) => {
        const thumb = mediaUrl(f.thumbnail);
        const title = str(f.title) || f.id;
        const problems = Array.isArray(f.problems) ? f.problems.filter(isObj) : [];
        return h(
          "article",
          { class: "finding", "data-exhibit": f.id },
          h("span", { class: "exhibit-thumb" }, thumb ? h("img", { src: thumb, alt: "", width: 64, height: 64, loading: "lazy" }) : null),
          h(
            "div",
            { class: "finding-text" },
            h("h3", { class: "finding-title" }, EXHIBIT_ID.test(f.id) ? h("a", { href: exhibitHash(museum, f.id), text: title }) : title, h("span", { class: "muted small", text: ` ${f.id}` })),
            h(
              "ul",
              { class: "problems" },
              problems.map((p) => {
                const kind = str(p.kind);
                const withIds = Array.isArray(p.with) ? p.with.filter((id) => typeof id === "string") : [];
                return h(
                  "li",
                  { "data-kind": kind },
                  h("span", { class: "problem-kind", text: `${PROBLEMS[kind] || kind}: ` }),
                  str(p.detail) ? `${sentence(p.detail)} ` : "",
                  str(p.advice) ? h("strong", { class: "advice", text: sentence(p.advice) }) : null,
                  withIds.length
                    ? h(
                        "span",
                        { class: "with block small" },
                        "With: ",
                        withIds.flatMap((id, i) => [
                          i ? ", " : "",
                          EXHIBIT_ID.test(id) ? h("a", { href: exhibitHash(museum, id), text: id }) : id,
                        ]),
                      )
                    : null,
                );
              }),
            ),
          ),
        );
      }),
    );
  }

  /** Unix seconds of a "YYYY-MM-DD" day (UTC midnight). */
  function daySeconds(date) {
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(str(date));
    if (!m) return null;
    return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) / 1000;
  }

  function renderAnalytics(museum, data) {
    const total = num(data.recognitions) ?? 0;
    const summary = $("analytics-summary");
    const daily = (Array.isArray(data.daily) ? data.daily : [])
      .filter(isObj)
      .map((d) => ({
        date: str(d.date),
        t: daySeconds(d.date),
        matched: num(d.matched) ?? 0,
        ambiguous: num(d.ambiguous) ?? 0,
        no_match: num(d.no_match) ?? 0,
      }))
      .filter((d) => d.t !== null);
    const dayTotal = daily.reduce((s, d) => s + d.matched + d.ambiguous + d.no_match, 0);
    const words = total
      ? `${plural(total, "recognition")}: ${num(data.matched) ?? 0} matched, ${num(data.ambiguous) ?? 0} ambiguous, ${num(data.no_match) ?? 0} no match (no-match rate ${percent(data.no_match_rate, 1)}).`
      : "";
    summary.textContent = total === 0 && dayTotal === 0 ? "No recognitions yet" : words || `${plural(dayTotal, "recognition")} in the last 30 days.`;

    drawCharts(daily);

    $("daily-rows").replaceChildren(
      ...daily.map((d) => {
        const all = d.matched + d.ambiguous + d.no_match;
        return h(
          "tr",
          {},
          h("th", { scope: "row", text: d.date }),
          h("td", { class: "num", text: String(d.matched) }),
          h("td", { class: "num", text: String(d.ambiguous) }),
          h("td", { class: "num", text: String(d.no_match) }),
          h("td", { class: "num", text: all ? `${((d.no_match / all) * 100).toFixed(1)}%` : "—" }),
        );
      }),
    );

    const top = Array.isArray(data.top_exhibits) ? data.top_exhibits.filter((t) => isObj(t) && typeof t.id === "string") : [];
    $("top-exhibits").replaceChildren(
      ...(top.length
        ? top.map((t) =>
            h(
              "li",
              { "data-exhibit": t.id },
              EXHIBIT_ID.test(t.id) ? h("a", { href: exhibitHash(museum, t.id), text: t.id }) : t.id,
              ` — ${plural(num(t.count) ?? 0, "time")}`,
            ),
          )
        : [h("li", { class: "muted empty", text: "None yet." })]),
    );
    const missed = Array.isArray(data.most_missed) ? data.most_missed.filter((m) => isObj(m) && typeof m.id === "string") : [];
    const missedList = $("most-missed");
    missedList.replaceChildren(
      ...(missed.length
        ? missed.map((m) =>
            h("li", {}, h("code", { title: m.id, text: m.id.slice(0, 12) }), ` — ${plural(num(m.count) ?? 0, "time")}`),
          )
        : [h("li", { class: "muted empty", text: "None yet." })]),
    );
    const distinct = num(data.missed_photos);
    if (distinct !== null) {
      missedList.append(h("li", { class: "muted empty", text: `${plural(distinct, "distinct photo")} found no match in all.` }));
    }
  }

  // ---- charts (uPlot) ---------------------------------------------------------------------------------------

  function destroyCharts() {
    for (const [id, chart] of Object.entries(state.charts)) {
      if (chart.observer) chart.observer.disconnect();
      if (chart.plot) chart.plot.destroy();
      const el = $(id);
      if (el) el.replaceChildren();
    }
    state.charts = {};
  }

  function cssVar(name, fallback) {
    const value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || fallback;
  }

  const CHART_HEIGHT = 240;

  function drawCharts(daily) {
    destroyCharts();
    if (typeof window.uPlot !== "function") {
      for (const id of ["chart-daily", "chart-nomatch"]) {
        $(id).replaceChildren(h("p", { class: "muted", text: "The chart could not be drawn; the table below has the numbers." }));
      }
      return;
    }
    const x = daily.map((d) => d.t);
    const text = cssVar("--text", "#1f1a16");
    const line = cssVar("--line", "#d8cfc3");
    const colours = {
      matched: cssVar("--chart-matched", "#1d6b3a"),
      ambiguous: cssVar("--chart-ambiguous", "#8a5300"),
      no_match: cssVar("--chart-nomatch", "#a11d1d"),
    };
    const axis = { stroke: text, grid: { stroke: line, width: 1 }, ticks: { stroke: line, width: 1 } };
    const dayAxis = { ...axis, values: (u, splits) => splits.map((v) => (v == null ? "" : shortDay(v))) };
    const countAxis = {
      ...axis,
      values: (u, splits) => splits.map((v) => (Number.isInteger(v) ? String(v) : "")),
    };
    const base = {
      height: CHART_HEIGHT,
      tzDate: (ts) => window.uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
      cursor: { drag: { x: false, y: false } },
      legend: { live: true },
    };
    const counts = [x, daily.map((d) => d.matched), daily.map((d) => d.ambiguous), daily.map((d) => d.no_match)];
    makeChart(
      "chart-daily",
      {
        ...base,
        scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(4, Math.ceil((max || 0) * 1.15))] } },
        axes: [dayAxis, countAxis],
        series: [
          { label: "Day", value: (u, v) => (v == null ? "—" : dayLabel(v)) },
          { label: "Matched", stroke: colours.matched, width: 2, points: { show: true, size: 5 } },
          { label: "Ambiguous", stroke: colours.ambiguous, width: 2, dash: [8, 4], points: { show: true, size: 5 } },
          { label: "No match", stroke: colours.no_match, width: 2, dash: [2, 3], points: { show: true, size: 5 } },
        ],
      },
      counts,
    );
    const rate = daily.map((d) => {
      const all = d.matched + d.ambiguous + d.no_match;
      return all ? (d.no_match / all) * 100 : null;
    });
    makeChart(
      "chart-nomatch",
      {
        ...base,
        scales: { x: { time: true }, y: { range: [0, 100] } },
        axes: [dayAxis, { ...axis, values: (u, splits) => splits.map((v) => `${v}%`) }],
        series: [
          { label: "Day", value: (u, v) => (v == null ? "—" : dayLabel(v)) },
          {
            label: "No-match rate",
            stroke: colours.no_match,
            width: 2,
            points: { show: true, size: 5 },
            value: (u, v) => (v == null ? "—" : `${v.toFixed(1)}%`),
          },
        ],
      },
      [x, rate],
    );
  }

  let dayFormat = null;

  /** "3 Jun": a chart's day label (the days are UTC dates). */
  function shortDay(seconds) {
    try {
      if (!dayFormat) dayFormat = new Intl.DateTimeFormat("en-GB", { day: "numeric", month: "short", timeZone: "UTC" });
      return dayFormat.format(new Date(seconds * 1000));
    } catch {
      return dayLabel(seconds).slice(5);
    }
  }

  function dayLabel(seconds) {
    return new Date(seconds * 1000).toISOString().slice(0, 10);
  }

  function makeChart(id, opts, data) {
    const el = $(id);
    el.replaceChildren();
    const width = Math.max(260, Math.floor(el.clientWidth || 600));
    const plot = new window.uPlot({ ...opts, width }, data, el);
    const chart = { plot, observer: null };
    if (typeof ResizeObserver === "function") {
      chart.observer = new ResizeObserver((entries) => {
        const w = Math.floor(entries[0].contentRect.width);
        if (w > 0 && Math.abs(w - plot.width) > 1) plot.setSize({ width: Math.max(260, w), height: CHART_HEIGHT });
      });
      chart.observer.observe(el);
    }
    state.charts[id] = chart;
  }

  // ---- start ----------------------------------------------------------------------------------------------

  function wire() {
    $("login-form").addEventListener("submit", onLogin);
    $("logout").addEventListener("click", () => logout());
    window.addEventListener("hashchange", () => route({ focus: true }));

    $("create-museum").addEventListener("submit", onCreateMuseum);
    $("cm-add-lang").addEventListener("click", addNameRow);
    $("cm-copy").addEventListener("click", copyKey);

    $("import-form").addEventListener("submit", onImportFiles);
    $("import-iiif-form").addEventListener("submit", onImportIiif);
    $("report-filter").addEventListener("change", filterReport);
    $("report-search").addEventListener("input", filterReport);
    $("report-search").addEventListener("change", filterReport);
    $("report-csv").addEventListener("click", downloadCsv);
    $("build-form").addEventListener("submit", onBuild);

    $("rollback").addEventListener("click", onRollback);
    $("versions-reload").addEventListener("click", () => loadVersions());

    $("exhibits-form").addEventListener("submit", (event) => {
      event.preventDefault();
      runSearch(1);
    });
    $("exhibit-search").addEventListener("input", scheduleSearch);
    $("exhibit-search").addEventListener("change", () => {
      if ($("exhibit-search").value.trim() !== state.search.q) scheduleSearch();
    });
    $("exhibits-prev").addEventListener("click", () => runSearch(Math.max(1, state.search.page - 1)));
    $("exhibits-next").addEventListener("click", () => runSearch(state.search.page + 1));

    $("exhibit-form").addEventListener("submit", onSaveExhibit);
    $("exhibit-delete").addEventListener("click", onDeleteExhibit);
    $("edit-lang").addEventListener("change", onEditLangChange);
    $("edit-lang-add").addEventListener("click", addEditLang);
    $("edit-lang-cancel").addEventListener("click", cancelEditLang);
    $("edit-lang-new").addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        addEditLang();
      } else if (event.key === "Escape") {
        event.preventDefault();
        cancelEditLang();
      }
    });
    // "change" too: some ways of filling a field (autofill, automation) send no "input".
    for (const [field, id] of TEXT_FIELDS) {
      const input = $(id);
      for (const type of ["input", "change"]) input.addEventListener(type, () => onTextEdit(field, input));
    }
    for (const type of ["input", "change"]) {
      $("edit-accession").addEventListener(type, (e) => onPlainEdit("accession_number", e.target));
      $("edit-dimensions").addEventListener(type, (e) => onPlainEdit("dimensions", e.target));
    }
    for (const type of ["input", "change"]) {
      $("edit-audio-lang").addEventListener(type, () => {
        state.ex.audioLangTouched = true;
      });
    }

    $("try-form").addEventListener("submit", onTry);

    const dialog = $("confirm");
    $("confirm-ok").addEventListener("click", () => confirmResolve && confirmResolve(true));
    $("confirm-cancel").addEventListener("click", () => confirmResolve && confirmResolve(false));
    dialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      if (confirmResolve) confirmResolve(false);
    });
    dialog.addEventListener("close", () => {
      if (confirmResolve) confirmResolve(false);
    });
  }

  async function start() {
    freshMuseumState();
    wire();
    const key = storage.read();
    if (!key) {
      showView("login");
      document.body.classList.add("ready");
      return;
    }
    say($("status"), "Checking the saved key…", { busy: true });
    try {
      const who = await identify(key);
      startSession(key, who);
      say($("status"), "");
      await route();
    } catch (e) {
      say($("status"), "");
      if (e instanceof ApiError && e.status === 401) {
        storage.clear();
        $("login-error").textContent = "The saved key is no longer valid. Log in again.";
      } else {
        $("login-error").replaceChildren(...errorParts(e, "Could not check the saved key:"));
      }
      showView("login");
    }
    document.body.classList.add("ready");
  }

  start();
})();
