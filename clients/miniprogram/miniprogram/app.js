// The app: on launch, restore the visitor's museum and language and log in
// (wx.login() -> our session token, kept in storage by utils/api.js).

const api = require('./utils/api.js');
const config = require('./utils/config.js');
const { baseLang } = require('./utils/i18n.js');

const PREFS_KEY = 'museum_officer_prefs';

function phoneLang() {
  try {
    const info = wx.getAppBaseInfo ? wx.getAppBaseInfo() : wx.getSystemInfoSync();
    return baseLang(info && info.language);
  } catch (e) {
    return '';
  }
}

App({
  globalData: {
    // The museum the visitor is in ('' = recognise across every museum) and the answer language.
    museum: config.defaultMuseum || '',
    lang: config.defaultLang,
    // The last recognition, handed from the index page to the card page.
    recognition: null,
    loggedIn: false,
    loginError: null,
  },

  onLaunch() {
    const prefs = wx.getStorageSync(PREFS_KEY) || {};
    this.globalData.lang = baseLang(prefs.lang) || phoneLang() || config.defaultLang;
    if (typeof prefs.museum === 'string') this.globalData.museum = prefs.museum;
    // Logged in in the background; pages wait for it with ensureLogin().
    this.ready = this.ensureLogin().catch(() => null);
  },

  /** Resolves with the session; rejects with the ApiError (kept in globalData.loginError). */
  ensureLogin() {
    return api.ensureSession().then(
      (session) => {
        this.globalData.loggedIn = true;
        this.globalData.loginError = null;
        return session;
      },
      (err) => {
        this.globalData.loggedIn = false;
        this.globalData.loginError = err;
        console.warn('login failed', String(err));
        throw err;
      },
    );
  },

  setPrefs(prefs) {
    Object.assign(this.globalData, prefs);
    wx.setStorageSync(PREFS_KEY, { museum: this.globalData.museum, lang: this.globalData.lang });
  },
});
