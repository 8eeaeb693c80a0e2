// Start page: choose the museum and the language, photograph an exhibit
// (wx.chooseMedia -> api.recognize -> the card page), or search the museum's exhibits.

const api = require('../../utils/api.js');
const config = require('../../utils/config.js');
const { texts, errorMessage } = require('../../utils/i18n.js');
const { summaryView } = require('../../utils/card.js');
const { call, isCancel, openPage, toast } = require('../../utils/wxp.js');

const LANGS = [
  { value: 'zh', label: '中文' },
  { value: 'en', label: 'English' },
];

Page({
  data: {
    t: texts('zh'),
    lang: 'zh',
    langs: LANGS,
    langIndex: 0,
    museums: [],
    museumIndex: 0,
    query: '',
    results: [],
    page: 1,
    total: 0,
    searched: false,
    busy: false,
    error: '',
  },

  onLoad() {
    this.applyLang(getApp().globalData.lang);
    return this.loadMuseums();
  },

  applyLang(lang) {
    const t = texts(lang);
    const langIndex = Math.max(0, LANGS.findIndex((l) => l.value === lang));
    this.setData({ t, lang: LANGS[langIndex].value, langIndex });
    wx.setNavigationBarTitle({ title: t.appTitle });
  },

  /** The museum list; the first choice is "all museums" (recognition across every museum). */
  loadMuseums() {
    const { lang, t } = this.data;
    return api.listMuseums(lang).then(
      (museums) => {
        const choices = [{ id: '', label: t.allMuseums }].concat(
          museums.map((m) => ({ id: m.id, label: m.name || m.id, exhibits: m.exhibits || 0 })),
        );
        const wanted = getApp().globalData.museum;
        const museumIndex = Math.max(0, choices.findIndex((m) => m.id === wanted));
        this.setData({ museums: choices, museumIndex, error: '' });
      },
      (err) => {
        // Recognition still works without the list: across every museum, or the configured one.
        this.setData({
          museums: [{ id: getApp().globalData.museum || '', label: getApp().globalData.museum || t.allMuseums }],
          museumIndex: 0,
          error: errorMessage(err, lang),
        });
      },
    );
  },

  museum() {
    const m = this.data.museums[this.data.museumIndex];
    return m ? m.id : getApp().globalData.museum || '';
  },

  onMuseumChange(e) {
    const museumIndex = Number(e.detail.value);
    this.setData({ museumIndex, results: [], searched: false });
    getApp().setPrefs({ museum: this.museum() });
  },

  onLangChange(e) {
    const lang = LANGS[Number(e.detail.value)].value;
    getApp().setPrefs({ lang });
    this.applyLang(lang);
    return this.loadMuseums();
  },

  /** Camera or album, then recognition. */
  takePhoto() {
    if (this.data.busy) return Promise.resolve();
    return call('chooseMedia', {
      count: 1,
      mediaType: ['image'],
      sourceType: ['camera', 'album'],
      sizeType: ['compressed'],
      camera: 'back',
    }).then(
      (res) => this.recognizePhoto(res.tempFiles[0].tempFilePath, res.tempFiles[0].size),
      (err) => {
        if (!isCancel(err)) toast(err.message);
      },
    );
  },

  /** Uploads the photo and opens the card page with the answer (matched, ambiguous or no_match). */
  async recognizePhoto(filePath, size) {
    const { t, lang } = this.data;
    if (size && size > config.maxUploadBytes) {
      toast(errorMessage({ code: 'upload_too_large' }, lang));
      return;
    }
    this.setData({ busy: true, error: '' });
    wx.showLoading({ title: t.recognising, mask: true });
    try {
      // A logged-in visitor's matches go into their history; without a session the
      // recognition still works, and the visitor is told.
      const app = getApp();
      const loggedIn = await app.ensureLogin().then(
        () => true,
        () => false,
      );
      if (!loggedIn) toast(t.notLoggedIn);
      const museum = this.museum();
      const result = await api.recognize(filePath, { museum, lang });
      app.globalData.recognition = { result, lang, museum };
      wx.hideLoading();
      await openPage('/pages/card/card?from=recognition');
    } catch (err) {
      wx.hideLoading();
      this.setData({ error: errorMessage(err, lang) });
      wx.showModal({ title: t.failed, content: errorMessage(err, lang), showCancel: false });
    } finally {
      this.setData({ busy: false });
    }
  },

  onQueryInput(e) {
    this.setData({ query: e.detail.value });
  },

  onSearch() {
    return this.search(1);
  },

  loadMore() {
    return this.search(this.data.page + 1);
  },

  /** The chosen museum's exhibits matching the query (the first museum when "all" is chosen). */
  search(page) {
    const { lang, museums, query } = this.data;
    const museum = this.museum() || (museums[1] && museums[1].id);
    if (!museum) return Promise.resolve();
    return api.searchExhibits(museum, query.trim(), page, { lang, pageSize: 20 }).then(
      (data) => {
        const rows = (data.items || []).map(summaryView);
        this.setData({
          results: page === 1 ? rows : this.data.results.concat(rows),
          page: data.page || page,
          total: data.total || 0,
          searched: true,
          error: '',
        });
      },
      (err) => this.setData({ error: errorMessage(err, lang) }),
    );
  },

  openExhibit(e) {
    const { id, museum } = e.currentTarget.dataset;
    return openPage(
      `/pages/card/card?id=${encodeURIComponent(id)}&museum=${encodeURIComponent(museum)}&lang=${this.data.lang}`,
    );
  },

  onShareAppMessage() {
    return { title: this.data.t.appTitle, path: '/pages/index/index' };
  },
});
