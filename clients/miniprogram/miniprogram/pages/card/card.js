// The exhibit card: what the museum guide says about the exhibit in the photo.
//
// Opened two ways:
// - `?from=recognition`: shows getApp().globalData.recognition (set by the index
//   page): matched -> the card; ambiguous -> the exhibits that fit, to choose
//   from; no_match -> the server's tips;
// - `?id=&museum=&lang=`: the card of one exhibit (search, history, favorites,
//   related exhibits, a shared card).

const api = require('../../utils/api.js');
const { texts, errorMessage } = require('../../utils/i18n.js');
const { cardView, alternativesView } = require('../../utils/card.js');
const { openPage, toast } = require('../../utils/wxp.js');

Page({
  data: {
    t: texts('zh'),
    lang: 'zh',
    // loading | card | ambiguous | no_match | error
    state: 'loading',
    card: null,
    confidence: null,
    alternatives: [],
    tips: [],
    reason: '',
    audio: { available: false, playing: false, failed: false },
    favorite: false,
    favoriteBusy: false,
    error: '',
  },

  audioContext: null,

  onLoad(options) {
    const o = options || {};
    const app = getApp();
    const lang = o.lang || app.globalData.lang;
    this.setData({ lang, t: texts(lang) });
    if (o.from === 'recognition') {
      const r = app.globalData.recognition;
      if (r && r.lang) this.setData({ lang: r.lang, t: texts(r.lang) });
      return this.showRecognition(r && r.result);
    }
    if (o.id) return this.loadExhibit(decodeURIComponent(o.id), o.museum ? decodeURIComponent(o.museum) : '');
    this.setData({ state: 'error', error: errorMessage({ code: 'exhibit_not_found' }, lang) });
    return Promise.resolve();
  },

  onHide() {
    // The guide stops talking when the visitor leaves the card (another page, or the app).
    if (this.audioContext && this.data.audio.playing) this.audioContext.pause();
  },

  onUnload() {
    this.releaseAudio();
  },

  /** A Recognition from POST /api/v1/recognize. */
  showRecognition(result) {
    if (!result) {
      this.setData({ state: 'error', error: errorMessage({}, this.data.lang) });
      return Promise.resolve();
    }
    if (result.status === 'matched' && result.exhibit) {
      return this.showCard(result.exhibit, result.confidence);
    }
    if (result.status === 'ambiguous') {
      this.releaseAudio();
      this.setData({
        state: 'ambiguous',
        card: null,
        alternatives: alternativesView(result.alternatives),
        reason: result.reason || '',
      });
      return Promise.resolve();
    }
    // no_match (or a status this version does not know): the tips the server gives.
    this.releaseAudio();
    const tips = Array.isArray(result.tips) ? result.tips : [];
    this.setData({
      state: 'no_match',
      card: null,
      reason: result.reason || '',
      tips: result.reason === 'empty_collection' && tips.length === 0 ? [this.data.t.emptyCollection] : tips,
    });
    return Promise.resolve();
  },

  /** Shows an ExhibitCard; then fills in related exhibits and the favorite state. */
  showCard(card, confidence) {
    const view = cardView(card, this.data.lang);
    this.setData({
      state: 'card',
      card: view,
      confidence: typeof confidence === 'number' ? Math.round(confidence * 100) : null,
      alternatives: [],
      tips: [],
      error: '',
    });
    wx.setNavigationBarTitle({ title: view.title });
    this.setupAudio(view.audioUrl);
    return Promise.all([this.fillRelated(view), this.refreshFavorite()]);
  },

  loadExhibit(id, museum) {
    this.setData({ state: 'loading', error: '' });
    return api.getExhibit(id, { museum, lang: this.data.lang }).then(
      (card) => this.showCard(card),
      (err) => {
        this.releaseAudio();
        this.setData({ state: 'error', card: null, error: errorMessage(err, this.data.lang) });
      },
    );
  },

  /** A recognised card has related ids only: the exhibit's own card names them. */
  fillRelated(view) {
    if (!view.relatedNeedDetails) return Promise.resolve();
    return api.getExhibit(view.id, { museum: view.museum, lang: this.data.lang }).then(
      (full) => {
        const current = this.data.card;
        if (!current || current.id !== view.id || current.museum !== view.museum) return;
        if (Array.isArray(full.related_exhibits)) {
          this.setData({ 'card.related': cardView(full, this.data.lang).related, 'card.relatedNeedDetails': false });
        }
      },
      (err) => console.warn('related exhibits', String(err)),
    );
  },

  /** Whether the card is among the visitor's favorites (needs a session; none: not a favorite yet). */
  refreshFavorite() {
    const view = this.data.card;
    if (!view || !api.session()) {
      this.setData({ favorite: false });
      return Promise.resolve();
    }
    return api.favorites({ limit: 100 }).then(
      (data) => {
        const current = this.data.card;
        if (!current || current.id !== view.id) return;
        const items = (data && data.items) || [];
        this.setData({ favorite: items.some((i) => i.exhibit_id === view.id && i.museum === view.museum) });
      },
      (err) => console.warn('favorite state', String(err)),
    );
  },

  toggleFavorite() {
    const view = this.data.card;
    if (!view || this.data.favoriteBusy) return Promise.resolve();
    const { t, lang } = this.data;
    const adding = !this.data.favorite;
    this.setData({ favoriteBusy: true });
    const change = adding ? api.addFavorite(view.museum, view.id) : api.removeFavorite(view.museum, view.id);
    return change.then(
      () => {
        this.setData({ favorite: adding, favoriteBusy: false });
        toast(adding ? t.favorited : t.removed);
      },
      (err) => {
        this.setData({ favoriteBusy: false });
        toast(errorMessage(err, lang));
      },
    );
  },

  setupAudio(url) {
    this.releaseAudio();
    if (!url) {
      this.setData({ audio: { available: false, playing: false, failed: false } });
      return;
    }
    const ctx = wx.createInnerAudioContext();
    ctx.src = url;
    ctx.onPlay(() => this.setData({ 'audio.playing': true }));
    ctx.onPause(() => this.setData({ 'audio.playing': false }));
    ctx.onStop(() => this.setData({ 'audio.playing': false }));
    ctx.onEnded(() => this.setData({ 'audio.playing': false }));
    ctx.onError((err) => {
      this.setData({ 'audio.playing': false, 'audio.failed': true });
      toast(this.data.t.audioFailed);
      console.warn('audio', err && err.errMsg);
    });
    this.audioContext = ctx;
    this.setData({ audio: { available: true, playing: false, failed: false } });
  },

  releaseAudio() {
    if (this.audioContext) {
      this.audioContext.destroy();
      this.audioContext = null;
    }
  },

  toggleAudio() {
    if (!this.audioContext) return;
    if (this.data.audio.playing) this.audioContext.pause();
    else this.audioContext.play();
  },

  previewImage() {
    const card = this.data.card;
    if (card && card.images.length) wx.previewImage({ urls: card.images, current: card.image });
  },

  /** An ambiguous answer: the visitor says which exhibit it is. */
  chooseAlternative(e) {
    const { id, museum } = e.currentTarget.dataset;
    return this.loadExhibit(id, museum).then(() => {
      // The visitor's choice goes into their history, as a match would.
      if (this.data.state === 'card' && api.session()) {
        return api.addHistory(museum, id).catch((err) => console.warn('history', String(err)));
      }
      return undefined;
    });
  },

  openRelated(e) {
    const { id, museum } = e.currentTarget.dataset;
    return openPage(
      `/pages/card/card?id=${encodeURIComponent(id)}&museum=${encodeURIComponent(museum)}&lang=${this.data.lang}`,
    );
  },

  /** Back to the camera. */
  tryAgain() {
    const depth = typeof getCurrentPages === 'function' ? getCurrentPages().length : 1;
    if (depth > 1) wx.navigateBack({ delta: 1 });
    else wx.switchTab({ url: '/pages/index/index' });
  },

  onShareAppMessage() {
    const card = this.data.card;
    if (!card) return { title: this.data.t.appTitle, path: '/pages/index/index' };
    return {
      title: card.title,
      path: `/pages/card/card?id=${encodeURIComponent(card.id)}&museum=${encodeURIComponent(card.museum)}&lang=${this.data.lang}`,
      imageUrl: card.image || undefined,
    };
  },
});
