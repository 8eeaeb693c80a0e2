// The history and favorites pages: the visitor's list, newest first, paged,
// refreshed when the page shows and on pull-down; tap a row to open its card.

const api = require('./api.js');
const { texts, errorMessage } = require('./i18n.js');
const { listItemView } = require('./card.js');
const { openPage, toast } = require('./wxp.js');

const PAGE_SIZE = 20;

/** The Page definition for list `name` ('history' or 'favorites'). */
function listPage(name) {
  const removable = name === 'favorites';
  return {
    data: {
      t: texts('zh'),
      lang: 'zh',
      list: name,
      removable,
      items: [],
      total: 0,
      loading: false,
      loaded: false,
      error: '',
    },

    onShow() {
      const lang = getApp().globalData.lang;
      const t = texts(lang);
      this.setData({ lang, t });
      wx.setNavigationBarTitle({ title: t[name] });
      return this.load(0);
    },

    onPullDownRefresh() {
      return this.load(0).then(() => wx.stopPullDownRefresh());
    },

    onReachBottom() {
      if (this.data.items.length < this.data.total && !this.data.loading) return this.load(this.data.items.length);
      return Promise.resolve();
    },

    load(offset) {
      const lang = this.data.lang;
      this.setData({ loading: true });
      return api[name]({ offset, limit: PAGE_SIZE, lang }).then(
        (data) => {
          const rows = ((data && data.items) || []).map((item) => listItemView(item, lang));
          this.setData({
            items: offset === 0 ? rows : this.data.items.concat(rows),
            total: (data && data.total) || 0,
            loading: false,
            loaded: true,
            error: '',
          });
        },
        (err) => this.setData({ loading: false, loaded: true, error: errorMessage(err, lang) }),
      );
    },

    open(e) {
      const { id, museum, unpublished } = e.currentTarget.dataset;
      if (unpublished) {
        toast(this.data.t.unpublished);
        return Promise.resolve();
      }
      return openPage(
        `/pages/card/card?id=${encodeURIComponent(id)}&museum=${encodeURIComponent(museum)}&lang=${this.data.lang}`,
      );
    },

    /** Favorites only: DELETE /me/favorites/{id}?museum=. */
    remove(e) {
      const { id, museum } = e.currentTarget.dataset;
      const { t, lang } = this.data;
      return api.removeFavorite(museum, id).then(
        () => {
          const items = this.data.items.filter((i) => !(i.id === id && i.museum === museum));
          this.setData({ items, total: Math.max(0, this.data.total - 1) });
          toast(t.removed);
        },
        (err) => toast(errorMessage(err, lang)),
      );
    },
  };
}

module.exports = { listPage };
