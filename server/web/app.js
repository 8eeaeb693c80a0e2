// The visitor page: photograph an exhibit and read (or hear) its card, or
// browse and search a museum's collection. Plain script, no build step; the
// page is served with a strict CSP (no inline code or styles), and API text
// only ever reaches the page through textContent and attributes.
"use strict";

(() => {
  // ---- UI strings -----------------------------------------------------------
  // The page's own words, in the visitor's language (fallback: English). The
  // exhibits' words come from the API in the language asked for.
  const STRINGS = {
    zh: {
      appTitle: "博物馆讲解员",
      skip: "跳到藏品搜索",
      museum: "博物馆",
      language: "语言",
      loading: "正在加载…",
      noMuseums: "暂无可用的博物馆",
      captureHeading: "拍一拍，听讲解",
      captureHint: "对准一件展品拍照，或从相册选一张照片。",
      takePhoto: "拍照或选择照片",
      yourPhoto: "你的照片",
      resultHeading: "讲解",
      preparing: "正在处理照片…",
      recognising: "正在识别，请稍候…",
      loadingCard: "正在打开展品…",
      matched: (t) => `找到了：${t}`,
      ambiguousHeading: "是哪一件？",
      ambiguousText: "照片可能是下面几件展品之一，请选择：",
      noMatchHeading: "没有认出这件展品",
      noMatchText: "换个角度再拍一张试试：",
      tipsHeading: "拍照小贴士",
      tryAgain: "再拍一张",
      browseInstead: "在藏品中查找",
      period: "年代",
      date: "时间",
      maker: "作者",
      material: "材质",
      dimensions: "尺寸",
      gallery: "展厅",
      accession: "编号",
      objectType: "类别",
      introduction: "讲解",
      audio: "语音讲解",
      audioUnsupported: "你的浏览器无法播放这段语音。",
      related: "相关展品",
      backToResults: "返回搜索结果",
      browseHeading: "浏览藏品",
      searchLabel: "搜索藏品",
      searchHint: "按名称、作者、朝代或编号搜索；留空则列出全部。",
      searching: "正在搜索…",
      results: (n, q) => (q ? `“${q}”共 ${n} 个结果` : `共 ${n} 件藏品`),
      noResults: (q) => `没有找到与“${q}”相关的藏品。`,
      chooseMuseum: "请先选择博物馆。",
      more: "更多",
      retry: "重试",
      footer: "照片仅用于识别展品。",
      errors: {
        network: "连不上服务器。请检查网络后重试。",
        busy: "讲解员正忙，请稍后再试。",
        not_ready: "讲解员正在准备中，请过一会儿再试。",
        rate_limited: "短时间内拍得太多了，请等一分钟再试。",
        timeout: "等得太久了。请检查网络后重试。",
        image_too_small: "照片太小了。请走近一些，或换一张更大的照片。",
        image_too_large: "照片太大了，请换一张照片。",
        invalid_image: "这不是一张能读取的照片。请选择 JPEG 或 PNG 图片。",
        museum_not_found: "找不到这家博物馆，请换一家。",
        exhibit_not_found: "找不到这件展品。",
        generic: "出了点问题，请重试。",
      },
      reference: (id) => `参考编号：${id}`,
    },
    en: {
      appTitle: "Museum guide",
      skip: "Skip to the collection search",
      museum: "Museum",
      language: "Language",
      loading: "Loading…",
      noMuseums: "No museum is available yet",
      captureHeading: "Snap an exhibit, hear its story",
      captureHint: "Point your camera at one exhibit, or choose a photo from your album.",
      takePhoto: "Take or choose a photo",
      yourPhoto: "Your photo",
      resultHeading: "Guide",
      preparing: "Preparing your photo…",
      recognising: "Recognising, one moment…",
      loadingCard: "Opening the exhibit…",
      matched: (t) => `Found: ${t}`,
      ambiguousHeading: "Which one is it?",
      ambiguousText: "Your photo could show one of these exhibits. Choose one:",
      noMatchHeading: "We could not recognise this exhibit",
      noMatchText: "Try another photo:",
      tipsHeading: "Tips for a good photo",
      tryAgain: "Take another photo",
      browseInstead: "Find it in the collection",
      period: "Period",
      date: "Date",
      maker: "Maker",
      material: "Material",
      dimensions: "Dimensions",
      gallery: "Gallery",
      accession: "Accession no.",
      objectType: "Type",
      introduction: "About this exhibit",
      audio: "Audio guide",
      audioUnsupported: "Your browser cannot play this audio.",
      related: "Related exhibits",
      backToResults: "Back to the search results",
      browseHeading: "Browse the collection",
      searchLabel: "Search the collection",
      searchHint: "Search by title, maker, period or accession number; leave empty to list everything.",
      searching: "Searching…",
      results: (n, q) => (q ? `${n} ${n === 1 ? "result" : "results"} for “${q}”` : `${n} exhibits`),
      noResults: (q) => `Nothing found for “${q}”.`,
      chooseMuseum: "Choose a museum first.",
      more: "More",
      retry: "Try again",
      footer: "Your photos are used only to recognise exhibits.",
      errors: {
        network: "Cannot reach the server. Check your connection and try again.",
        busy: "The guide is busy right now. Please try again in a moment.",
        not_ready: "The guide is getting ready. Please try again in a minute.",
        rate_limited: "That was a lot of photos in a short time. Please wait a minute and try again.",
        timeout: "That took too long. Check your connection and try again.",
        image_too_small: "This photo is too small. Step closer or choose a larger picture.",
        image_too_large: "This photo is too large. Please choose another one.",
        invalid_image: "This file is not a photo we can read. Please choose a JPEG or PNG picture.",
        museum_not_found: "This museum is not available. Please choose another one.",
        exhibit_not_found: "This exhibit could not be found.",
        generic: "Something went wrong. Please try again.",
      },
      reference: (id) => `Reference: ${id}`,
    },
    ja: {
      appTitle: "ミュージアムガイド",
      skip: "所蔵品の検索へ移動",
      museum: "博物館",
      language: "言語",
      loading: "読み込み中…",
      noMuseums: "利用できる博物館がありません",
      captureHeading: "撮って、解説を聞く",
      captureHint: "展示品を一つ撮影するか、アルバムから写真を選んでください。",
      takePhoto: "写真を撮る・選ぶ",
      yourPhoto: "あなたの写真",
      resultHeading: "解説",
      preparing: "写真を準備しています…",
      recognising: "認識しています。少々お待ちください…",
      loadingCard: "展示品を開いています…",
      matched: (t) => `見つかりました：${t}`,
      ambiguousHeading: "どちらの展示品ですか？",
      ambiguousText: "写真は次のいずれかの展示品のようです。選んでください：",
      noMatchHeading: "展示品を認識できませんでした",
      noMatchText: "別の写真を試してください：",
      tipsHeading: "撮影のヒント",
      tryAgain: "もう一度撮る",
      browseInstead: "所蔵品から探す",
      period: "時代",
      date: "年代",
      maker: "作者",
      material: "材質",
      dimensions: "寸法",
      gallery: "展示室",
      accession: "登録番号",
      objectType: "種類",
      introduction: "解説",
      audio: "音声ガイド",
      audioUnsupported: "お使いのブラウザではこの音声を再生できません。",
      related: "関連する展示品",
      backToResults: "検索結果に戻る",
      browseHeading: "所蔵品を見る",
      searchLabel: "所蔵品を検索",
      searchHint: "名称・作者・時代・番号で検索できます。空欄ならすべて表示します。",
      searching: "検索しています…",
      results: (n, q) => (q ? `「${q}」の検索結果 ${n} 件` : `全 ${n} 点`),
      noResults: (q) => `「${q}」に一致する所蔵品はありません。`,
      chooseMuseum: "先に博物館を選んでください。",
      more: "さらに表示",
      retry: "再試行",
      footer: "写真は展示品の認識にのみ使われます。",
      errors: {
        network: "サーバーに接続できません。通信状態を確認して、もう一度お試しください。",
        busy: "ただいま混み合っています。しばらくしてからもう一度お試しください。",
        not_ready: "準備中です。1 分ほどしてからもう一度お試しください。",
        rate_limited: "短時間に撮影が多すぎます。1 分ほど待ってからお試しください。",
        timeout: "時間がかかりすぎました。通信状態を確認して、もう一度お試しください。",
        image_too_small: "写真が小さすぎます。近づいて撮るか、大きな写真を選んでください。",
        image_too_large: "写真が大きすぎます。別の写真を選んでください。",
        invalid_image: "読み取れないファイルです。JPEG または PNG の写真を選んでください。",
        museum_not_found: "この博物館は利用できません。別の博物館を選んでください。",
        exhibit_not_found: "この展示品は見つかりませんでした。",
        generic: "問題が発生しました。もう一度お試しください。",
      },
      reference: (id) => `参照番号：${id}`,
    },
  };

  /** Languages always offered (the museum's own are added from its `languages`). */
  const LANGUAGES = [
    ["zh", "中文"],
    ["en", "English"],
    ["ja", "日本語"],
    ["ko", "한국어"],
    ["fr", "Français"],
  ];

  /** Names of a few more languages a museum may carry (else the tag itself). */
  const LANGUAGE_NAMES = {
    "zh-hant": "繁體中文",
    "zh-hk": "繁體中文（香港）",
    "zh-tw": "繁體中文（台灣）",
    de: "Deutsch",
    es: "Español",
    it: "Italiano",
    pt: "Português",
    ru: "Русский",
    ar: "العربية",
    th: "ไทย",
    vi: "Tiếng Việt",
    id: "Bahasa Indonesia",
    ms: "Bahasa Melayu",
  };

  const PAGE_SIZE = 20;
  const SEARCH_DEBOUNCE_MS = 250;
  const RECOGNIZE_TIMEOUT_MS = 60000;
  const API_TIMEOUT_MS = 20000;
  /** Errors worth a "try again" button: the same request may work later. */
  const RETRYABLE = new Set([
    "network",
    "busy",
    "not_ready",
    "timeout",
    "upload_timeout",
    "rate_limited",
    "internal",
    "recognition_failed",
    "store_unavailable",
  ]);

  const $ = (id) => document.getElementById(id);
  const els = {
    museum: $("museum"),
    lang: $("lang"),
    photo: $("photo"),
    photoLabel: $("photo-label"),
    preview: $("preview"),
    previewImg: $("preview-img"),
    status: $("status"),
    result: $("result"),
    resultBody: $("result-body"),
    searchForm: $("search-form"),
    q: $("q"),
    searchStatus: $("search-status"),
    results: $("results"),
    more: $("more"),
  };

  const state = {
    lang: "zh",
    museum: "",
    museums: [],
    /** Languages this server refused (an older server knows only zh and en). */
    refusedLangs: new Set(),
    /** The last photo sent (resized), to retry or to ask again in another language. */
    lastPhoto: null,
    previewUrl: null,
    /** What the result panel shows: {kind: "card", id, museum, fromSearch} | {kind: "recognition"} | null. */
    view: null,
    busy: false,
    search: { q: "", page: 0, total: 0, loaded: 0, seq: 0, controller: null, timer: 0 },
    cardSeq: 0,
  };

  // ---- small helpers --------------------------------------------------------

  const store = {
    get(key) {
      try {
        return window.localStorage.getItem(`museum-officer.${key}`);
      } catch {
        return null;
      }
    },
    set(key, value) {
      try {
        window.localStorage.setItem(`museum-officer.${key}`, value);
      } catch {
        // Private mode or storage full: the choice just is not remembered.
      }
    },
  };

  /** The page's strings for a BCP-47 tag: its primary language, else English. */
  function stringsFor(tag) {
    const primary = String(tag || "").toLowerCase().split("-")[0];
    return STRINGS[primary] || STRINGS.en;
  }

  function t(key, ...args) {
    const value = stringsFor(state.lang)[key] ?? STRINGS.en[key];
    return typeof value === "function" ? value(...args) : value;
  }

  /** The language of the page's own words (the card's text may be in another). */
  function uiLang() {
    return document.documentElement.lang;
  }

  function errorText(code) {
    const errors = stringsFor(state.lang).errors;
    return errors[code] || STRINGS.en.errors[code] || errors.generic;
  }

  /** An element with attributes and children (strings become text nodes). */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name === "class") el.className = value;
      else if (name === "text") el.textContent = value;
      else if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
      else if (value === true) el.setAttribute(name, "");
      else el.setAttribute(name, String(value));
    }
    for (const child of children.flat()) {
      if (child === undefined || child === null || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  /** A usable picture URL: absolute http(s), or a path on this server. Bare file names are not. */
  function imageUrl(value) {
    if (typeof value !== "string" || value === "") return null;
    if (value.startsWith("/") && !value.startsWith("//")) return value;
    try {
      const url = new URL(value);
      return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
    } catch {
      return null;
    }
  }

  /** An <img> that removes `removeOnError` (or itself) when the picture cannot be loaded. */
  function picture(src, alt, attrs, removeOnError) {
    const img = h("img", { src, alt, decoding: "async", ...attrs });
    img.addEventListener("error", () => (removeOnError || img).remove(), { once: true });
    return img;
  }

  function text(value) {
    return typeof value === "string" && value.trim() !== "" ? value.trim() : null;
  }

  function museumName(id) {
    const museum = state.museums.find((m) => m.id === id);
    return (museum && text(museum.name)) || id;
  }

  // ---- the API --------------------------------------------------------------

  class ApiError extends Error {
    constructor(code, status, message, requestId) {
      super(message || code);
      this.code = code;
      this.status = status;
      this.requestId = requestId || null;
    }
  }

  /** The language to ask the API for: the visitor's, unless this server refused it. */
  function apiLang() {
    return state.refusedLangs.has(state.lang) ? fallbackLang(state.lang) : state.lang;
  }

  function fallbackLang(lang) {
    return String(lang).toLowerCase().startsWith("zh") ? "zh" : "en";
  }

  /**
   * Calls the API; resolves with `data`, rejects with an ApiError.
   * `build(lang)` gives [url, fetch options] for the answer language.
   */
  async function call(build, { timeout = API_TIMEOUT_MS, signal } = {}) {
    const lang = apiLang();
    try {
      return await callOnce(...build(lang), timeout, signal);
    } catch (e) {
      // An older server accepts only zh and en: ask again in the fallback language.
      const refusedLang =
        e instanceof ApiError &&
        e.code === "invalid_parameter" &&
        /\blang\b/.test(e.message) &&
        lang !== fallbackLang(lang);
      if (!refusedLang) throw e;
      state.refusedLangs.add(state.lang);
      return callOnce(...build(fallbackLang(lang)), timeout, signal);
    }
  }

  async function callOnce(url, options, timeout, signal) {
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
      response = await fetch(url, {
        ...options,
        signal: controller.signal,
        headers: { accept: "application/json" },
      });
    } catch (e) {
      if (signal && signal.aborted) throw e;
      throw new ApiError(timedOut ? "timeout" : "network", 0);
    } finally {
      window.clearTimeout(timer);
      if (signal) signal.removeEventListener("abort", abort);
    }
    let body = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    if (!response.ok || !body || body.errcode !== 0) {
      const code = (body && body.error) || statusCode(response.status);
      throw new ApiError(code, response.status, body && body.errmsg, body && body.request_id);
    }
    return body.data || {};
  }

  function statusCode(status) {
    if (status === 503) return "busy";
    if (status === 429) return "rate_limited";
    if (status === 408 || status === 504) return "timeout";
    if (status === 413) return "image_too_large";
    return "generic";
  }

  function query(params) {
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) {
      if (value !== undefined && value !== null && value !== "") search.set(key, String(value));
    }
    const s = search.toString();
    return s ? `?${s}` : "";
  }

  const api = {
    museums: () => call((lang) => [`/api/v1/museums${query({ lang })}`, {}]),
    exhibit: (id, museum) =>
      call((lang) => [`/api/v1/exhibits/${encodeURIComponent(id)}${query({ museum, lang })}`, {}]),
    search: (museum, q, page, signal) =>
      call(
        (lang) => [
          `/api/v1/museums/${encodeURIComponent(museum)}/exhibits${query({ q, page, page_size: PAGE_SIZE, lang })}`,
          {},
        ],
        { signal },
      ),
    recognize: (photo, museum) =>
      call(
        (lang) => {
          const form = new FormData();
          form.append("file", photo, "photo.jpg");
          if (museum) form.append("museum", museum);
          form.append("lang", lang);
          return ["/api/v1/recognize", { method: "POST", body: form }];
        },
        { timeout: RECOGNIZE_TIMEOUT_MS },
      ),
  };

  // ---- status and errors ----------------------------------------------------

  function setStatus(el, message, { busy = false } = {}) {
    el.replaceChildren();
    el.classList.toggle("busy", busy);
    if (message) el.append(busy ? h("span", { class: "spinner", "aria-hidden": "true" }) : "", message);
  }

  /** The error in plain words, with "try again" where trying again may help. */
  function errorBox(error, retry) {
    const code = error instanceof ApiError ? error.code : "generic";
    const box = h("div", { class: "error", role: "alert" }, h("p", { text: errorText(code) }));
    if (error instanceof ApiError && error.requestId && !RETRYABLE.has(code)) {
      box.append(h("p", { class: "small", text: t("reference", error.requestId) }));
    }
    if (retry && RETRYABLE.has(code)) {
      box.append(h("button", { type: "button", class: "button", onclick: retry, text: t("retry") }));
    }
    return box;
  }

  // ---- museums and languages -----------------------------------------------

  function renderLanguages() {
    const offered = new Map(LANGUAGES);
    const museum = state.museums.find((m) => m.id === state.museum);
    for (const tag of (museum && Array.isArray(museum.languages) ? museum.languages : [])) {
      if (typeof tag !== "string" || !/^[A-Za-z]{2,3}(-[0-9A-Za-z]{1,8})*$/.test(tag)) continue;
      const known = [...offered.keys()].some((k) => k.toLowerCase() === tag.toLowerCase());
      if (!known) offered.set(tag, LANGUAGE_NAMES[tag.toLowerCase()] || tag);
    }
    if (![...offered.keys()].includes(state.lang)) offered.set(state.lang, LANGUAGE_NAMES[state.lang] || state.lang);
    els.lang.replaceChildren(
      ...[...offered].map(([tag, name]) => h("option", { value: tag, lang: tag, text: name })),
    );
    els.lang.value = state.lang;
  }

  function renderMuseums() {
    const select = els.museum;
    if (state.museums.length === 0) {
      select.replaceChildren(h("option", { value: "", text: t("noMuseums") }));
      select.disabled = true;
      return;
    }
    select.replaceChildren(
      ...state.museums.map((m) => {
        return h("option", { value: m.id, text: museumName(m.id) });
      }),
    );
    select.disabled = false;
    select.value = state.museum;
  }

  async function loadMuseums() {
    try {
      const data = await api.museums();
      state.museums = Array.isArray(data.museums) ? data.museums.filter((m) => m && typeof m.id === "string") : [];
    } catch (e) {
      state.museums = [];
      els.museum.replaceChildren(h("option", { value: "", text: t("noMuseums") }));
      els.museum.disabled = true;
      setStatus(els.searchStatus, errorText(e instanceof ApiError ? e.code : "generic"));
      return false;
    }
    if (!state.museums.some((m) => m.id === state.museum)) {
      state.museum = state.museums.length > 0 ? state.museums[0].id : "";
    }
    renderMuseums();
    renderLanguages();
    return true;
  }

  /** Puts the page's own words in the visitor's language. */
  function translatePage() {
    const primary = state.lang.toLowerCase().split("-")[0];
    document.documentElement.lang = STRINGS[primary] ? state.lang : "en";
    for (const el of document.querySelectorAll("[data-i18n]")) {
      el.textContent = t(el.dataset.i18n);
    }
    document.title = t("appTitle");
  }

  async function changeLanguage(lang) {
    state.lang = lang;
    store.set("lang", lang);
    translatePage();
    renderLanguages();
    await loadMuseums();
    refreshResult();
    runSearch();
  }

  function changeMuseum(id) {
    state.museum = id;
    store.set("museum", id);
    renderLanguages();
    runSearch();
  }

  /** The result panel again, in the new language. */
  function refreshResult() {
    const view = state.view;
    if (!view || state.busy) return;
    if (view.kind === "card") {
      openExhibit(view.id, view.museum, { fromSearch: view.fromSearch, focus: false });
    } else if (view.kind === "recognition" && state.lastPhoto) {
      // Tips and alternatives come in the answer's language: ask again (the server caches the photo).
      recognise(state.lastPhoto, { announce: false });
    }
  }

  // ---- photo -> recognition ------------------------------------------------

  const resize = (file) => window.MuseumPhoto.resize(file);

  function showPreview(blob) {
    if (state.previewUrl) URL.revokeObjectURL(state.previewUrl);
    state.previewUrl = URL.createObjectURL(blob);
    els.previewImg.src = state.previewUrl;
    els.preview.hidden = false;
  }

  function setBusy(busy) {
    state.busy = busy;
    els.photo.disabled = busy;
    els.photoLabel.classList.toggle("disabled", busy);
    els.photoLabel.setAttribute("aria-disabled", busy ? "true" : "false");
    els.result.setAttribute("aria-busy", busy ? "true" : "false");
  }

  async function onPhotoChosen() {
    const file = els.photo.files && els.photo.files[0];
    if (!file || state.busy) return;
    setBusy(true);
    setStatus(els.status, t("preparing"), { busy: true });
    let photo;
    try {
      photo = await resize(file);
    } catch {
      // A format this browser cannot draw (HEIC on some phones): send it as it is.
      photo = file;
    }
    els.photo.value = "";
    state.lastPhoto = photo;
    if (photo !== file) showPreview(photo);
    else els.preview.hidden = true;
    setBusy(false);
    await recognise(photo, { announce: true });
  }

  async function recognise(photo, { announce }) {
    if (state.busy) return;
    setBusy(true);
    setStatus(els.status, t("recognising"), { busy: true });
    const seq = ++state.cardSeq;
    try {
      const data = await api.recognize(photo, state.museum);
      if (seq !== state.cardSeq) return;
      setStatus(els.status, "");
      showRecognition(data, announce);
    } catch (e) {
      if (seq !== state.cardSeq) return;
      setStatus(els.status, "");
      state.view = null;
      showResult(errorBox(e, () => recognise(photo, { announce: true })), { focus: true });
    } finally {
      setBusy(false);
    }
  }

  function showRecognition(data, announce) {
    const status = data.status;
    if (status === "matched" && data.exhibit) {
      const card = data.exhibit;
      state.view = { kind: "card", id: card.id, museum: card.museum, fromSearch: false };
      showResult(renderCard(card, { fromSearch: false }), { focus: announce });
      setStatus(els.status, t("matched", card.title || card.id));
      // A recognition answer may carry only the related ids: the card route has their summaries.
      if (!Array.isArray(card.related_exhibits) && Array.isArray(card.related) && card.related.length > 0) {
        fillRelated(card);
      }
      return;
    }
    state.view = { kind: "recognition" };
    const tips = Array.isArray(data.tips) ? data.tips.filter((s) => typeof s === "string") : [];
    // The status line (a live region) says what came back; focus moves to the answer.
    setStatus(els.status, t(status === "ambiguous" ? "ambiguousHeading" : "noMatchHeading"));
    if (status === "ambiguous") {
      const choices = Array.isArray(data.alternatives) ? data.alternatives : [];
      showResult(
        h(
          "div",
          { class: "answer ambiguous", id: "ambiguous" },
          h("h3", { text: t("ambiguousHeading"), tabindex: "-1", class: "focus-target" }),
          h("p", { text: t("ambiguousText") }),
          exhibitList(choices, { id: "alternatives", showMuseum: true }),
          tips.length > 0 ? tipsBlock(tips) : null,
        ),
        { focus: announce },
      );
      return;
    }
    showResult(
      h(
        "div",
        { class: "answer no-match", id: "no-match" },
        h("h3", { text: t("noMatchHeading"), tabindex: "-1", class: "focus-target" }),
        tips.length > 0 ? tipsBlock(tips) : null,
        h(
          "div",
          { class: "actions" },
          h("button", {
            type: "button",
            class: "button primary",
            text: t("tryAgain"),
            onclick: () => els.photo.click(),
          }),
          h("button", {
            type: "button",
            class: "button",
            text: t("browseInstead"),
            onclick: () => {
              els.q.focus();
              els.q.scrollIntoView({ block: "center" });
            },
          }),
        ),
      ),
      { focus: announce },
    );
  }

  function tipsBlock(tips) {
    return h(
      "div",
      { class: "tips" },
      h("h4", { text: t("tipsHeading") }),
      h("ul", { id: "tips" }, tips.map((tip) => h("li", { text: tip }))),
    );
  }

  /** Replaces the result panel's content; moves focus to its first heading when asked. */
  function showResult(content, { focus }) {
    els.resultBody.replaceChildren(content);
    els.result.hidden = false;
    if (focus) {
      const target = els.resultBody.querySelector(".focus-target") || els.result;
      target.focus({ preventScroll: true });
      els.result.scrollIntoView({ block: "start", behavior: smoothScroll() });
    }
  }

  function smoothScroll() {
    return window.matchMedia("(prefers-reduced-motion: reduce)").matches ? "auto" : "smooth";
  }

  // ---- exhibit cards ---------------------------------------------------------

  async function openExhibit(id, museum, { fromSearch = false, focus = true } = {}) {
    const seq = ++state.cardSeq;
    setStatus(els.status, t("loadingCard"), { busy: true });
    try {
      const card = await api.exhibit(id, museum || state.museum);
      if (seq !== state.cardSeq) return;
      setStatus(els.status, "");
      state.view = { kind: "card", id: card.id || id, museum: card.museum || museum, fromSearch };
      showResult(renderCard(card, { fromSearch }), { focus });
    } catch (e) {
      if (seq !== state.cardSeq) return;
      setStatus(els.status, "");
      showResult(errorBox(e, () => openExhibit(id, museum, { fromSearch, focus: true })), { focus: true });
    }
  }

  /** Fills a recognised card's related exhibits from the card route (best effort). */
  async function fillRelated(card) {
    const seq = state.cardSeq;
    try {
      const full = await api.exhibit(card.id, card.museum);
      if (seq !== state.cardSeq || !Array.isArray(full.related_exhibits)) return;
      const slot = els.resultBody.querySelector(".related-slot");
      if (slot) slot.replaceChildren(relatedBlock(full.related_exhibits));
    } catch {
      // The card reads fine without them.
    }
  }

  function renderCard(card, { fromSearch }) {
    const title = text(card.title) || card.id;
    const article = h("article", { class: "card", id: "card", "data-exhibit": card.id });
    // The card's text is in the language the server answered in.
    article.lang = text(card.lang) || apiLang();

    const images = (Array.isArray(card.images) ? card.images : []).map(imageUrl);
    const thumbs = Array.isArray(card.thumbnails) ? card.thumbnails.map(imageUrl) : [];
    const shown = images.map((src, i) => ({ src, thumb: thumbs[i] || src })).filter((x) => x.src);
    if (shown.length > 0) {
      const figure = h("figure", { class: "card-figure" });
      const main = picture(shown[0].src, title, { id: "card-image", class: "card-image" }, figure);
      figure.append(main);
      if (shown.length > 1) {
        const strip = h("div", { class: "thumbs", role: "group", "aria-label": title });
        shown.forEach((img, i) => {
          const button = h(
            "button",
            {
              type: "button",
              class: "thumb",
              "aria-pressed": i === 0 ? "true" : "false",
              onclick: () => {
                main.src = img.src;
                for (const b of strip.children) b.setAttribute("aria-pressed", b === button ? "true" : "false");
              },
            },
            picture(img.thumb, `${title} (${i + 1}/${shown.length})`, { loading: "lazy" }),
          );
          strip.append(button);
        });
        figure.append(strip);
      }
      article.append(figure);
    }

    article.append(h("h3", { class: "card-title focus-target", id: "card-title", tabindex: "-1", text: title }));
    const kind = text(card.object_type);
    if (kind) article.append(h("p", { class: "card-kind", text: kind }));

    const facts = [
      ["period", card.period],
      ["date", card.date !== card.period ? card.date : null],
      ["maker", card.maker],
      ["material", card.material],
      ["dimensions", card.dimensions],
      ["gallery", card.gallery],
      ["accession", card.accession_number],
    ].filter(([, value]) => text(value));
    if (facts.length > 0) {
      article.append(
        h(
          "dl",
          { class: "facts" },
          facts.map(([key, value]) =>
            h(
              "div",
              { class: `fact fact-${key}` },
              h("dt", { text: t(key), lang: uiLang() }),
              h("dd", { text: text(value) }),
            ),
          ),
        ),
      );
    }

    const audio = imageUrl(card.audio_url);
    if (audio) {
      article.append(
        h(
          "div",
          { class: "audio" },
          h("h4", { id: "audio-heading", text: t("audio"), lang: uiLang() }),
          h(
            "audio",
            { controls: true, preload: "none", src: audio, "aria-labelledby": "audio-heading" },
            h("p", { text: t("audioUnsupported") }),
          ),
        ),
      );
    }

    const intro = text(card.introduction);
    if (intro) {
      article.append(
        h(
          "div",
          { class: "intro" },
          h("h4", { text: t("introduction"), lang: uiLang() }),
          intro.split(/\n\s*\n/).map((para) => h("p", { text: para.trim() })),
        ),
      );
    }

    const slot = h("div", { class: "related-slot" });
    if (Array.isArray(card.related_exhibits) && card.related_exhibits.length > 0) {
      slot.append(relatedBlock(card.related_exhibits));
    }
    article.append(slot);

    const rights = text(card.rights);
    if (rights) article.append(h("p", { class: "rights small", text: rights }));

    if (fromSearch) {
      article.append(
        h("button", {
          type: "button",
          class: "button",
          text: t("backToResults"),
          lang: uiLang(),
          onclick: () => {
            const back = els.results.querySelector(`[data-exhibit="${CSS.escape(card.id)}"]`) || els.q;
            back.focus({ preventScroll: true });
            back.scrollIntoView({ block: "center", behavior: smoothScroll() });
          },
        }),
      );
    }
    return article;
  }

  function relatedBlock(related) {
    return h(
      "div",
      { class: "related" },
      h("h4", { text: t("related"), lang: uiLang() }),
      exhibitList(related, { id: "related", compact: true }),
    );
  }

  /** A list of exhibit summaries, each a button that opens its card. */
  function exhibitList(items, { id, showMuseum = false, compact = false, fromSearch = false }) {
    const list = h("ul", { class: `exhibit-list${compact ? " compact" : ""}`, id });
    for (const item of items) {
      if (!item || typeof item.id !== "string") continue;
      list.append(h("li", {}, exhibitButton(item, { showMuseum, fromSearch })));
    }
    return list;
  }

  /** A list thumbnail; decorative (alt=""), as the title is written next to it. */
  function thumbnail(src) {
    const frame = h("span", { class: "exhibit-thumb" });
    frame.append(picture(src, "", { loading: "lazy", width: 64, height: 64 }, frame));
    return frame;
  }

  function exhibitButton(item, { showMuseum, fromSearch }) {
    const title = text(item.title) || item.id;
    const meta = [item.period, item.maker, item.gallery].map(text).filter(Boolean);
    if (showMuseum && item.museum && (state.museums.length > 1 || item.museum !== state.museum)) {
      meta.push(museumName(item.museum));
    }
    const thumb = imageUrl(item.thumbnail) || imageUrl(item.image);
    const button = h(
      "button",
      {
        type: "button",
        class: "exhibit",
        "data-exhibit": item.id,
        onclick: () => openExhibit(item.id, item.museum || state.museum, { fromSearch }),
      },
      thumb ? thumbnail(thumb) : null,
      h(
        "span",
        { class: "exhibit-text" },
        h("span", { class: "exhibit-title", text: title }),
        meta.length > 0 ? h("span", { class: "exhibit-meta", text: meta.join(" · ") }) : null,
      ),
    );
    return button;
  }

  // ---- browse and search -----------------------------------------------------

  function scheduleSearch() {
    window.clearTimeout(state.search.timer);
    state.search.timer = window.setTimeout(() => runSearch(), SEARCH_DEBOUNCE_MS);
  }

  /** Page 1 of the current query (an empty query lists everything). */
  async function runSearch() {
    window.clearTimeout(state.search.timer);
    const q = els.q.value.trim();
    state.search.q = q;
    state.search.page = 0;
    state.search.loaded = 0;
    state.search.total = 0;
    els.results.replaceChildren();
    els.more.hidden = true;
    await loadPage(1);
  }

  async function loadPage(page) {
    const search = state.search;
    if (search.controller) search.controller.abort();
    if (!state.museum) {
      setStatus(els.searchStatus, t("chooseMuseum"));
      return;
    }
    const controller = new AbortController();
    search.controller = controller;
    const seq = ++search.seq;
    const q = search.q;
    setStatus(els.searchStatus, t("searching"), { busy: true });
    els.results.setAttribute("aria-busy", "true");
    try {
      const data = await api.search(state.museum, q, page, controller.signal);
      if (seq !== search.seq) return;
      const items = Array.isArray(data.items) ? data.items : [];
      search.page = page;
      search.total = Number.isFinite(data.total) ? data.total : search.loaded + items.length;
      search.loaded += items.length;
      // Which query the list shows (for tests and for anyone inspecting the page).
      els.results.dataset.query = q;
      const firstNew = items.length > 0 ? items[0].id : null;
      for (const item of items) {
        if (!item || typeof item.id !== "string") continue;
        els.results.append(h("li", {}, exhibitButton(item, { showMuseum: false, fromSearch: true })));
      }
      setStatus(els.searchStatus, search.total === 0 && q ? t("noResults", q) : t("results", search.total, q));
      els.more.hidden = !(search.loaded < search.total && items.length > 0);
      if (page > 1 && firstNew) {
        // "More" pressed: keyboard focus goes on to the first new result.
        const first = els.results.querySelector(`[data-exhibit="${CSS.escape(firstNew)}"]`);
        if (first && document.activeElement === els.more) first.focus();
      }
    } catch (e) {
      if (seq !== search.seq || controller.signal.aborted) return;
      setStatus(els.searchStatus, errorText(e instanceof ApiError ? e.code : "generic"));
      if (e instanceof ApiError && RETRYABLE.has(e.code)) {
        els.searchStatus.append(
          " ",
          h("button", { type: "button", class: "button small", text: t("retry"), onclick: () => loadPage(page) }),
        );
      }
    } finally {
      if (seq === search.seq) {
        els.results.setAttribute("aria-busy", "false");
        search.controller = null;
      }
    }
  }

  // ---- start -----------------------------------------------------------------

  function initialLanguage() {
    const stored = store.get("lang");
    if (stored && /^[A-Za-z]{2,3}(-[0-9A-Za-z]{1,8})*$/.test(stored)) return stored;
    for (const tag of navigator.languages || [navigator.language || ""]) {
      const primary = String(tag).toLowerCase().split("-")[0];
      const offered = LANGUAGES.find(([code]) => code === primary);
      if (offered) return offered[0];
    }
    return "zh";
  }

  async function start() {
    state.lang = initialLanguage();
    state.museum = store.get("museum") || "";
    translatePage();
    renderLanguages();

    els.lang.addEventListener("change", () => changeLanguage(els.lang.value));
    els.museum.addEventListener("change", () => changeMuseum(els.museum.value));
    els.photo.addEventListener("change", onPhotoChosen);
    els.q.addEventListener("input", scheduleSearch);
    els.searchForm.addEventListener("submit", (event) => {
      event.preventDefault();
      runSearch();
    });
    els.more.addEventListener("click", () => loadPage(state.search.page + 1));
    // The label stands in for the hidden file input: keyboard users reach the input itself,
    // and its focus ring is drawn on the label (CSS); Enter and Space open the picker.

    if (await loadMuseums()) await runSearch();
    document.body.classList.add("ready");
  }

  start();
})();
