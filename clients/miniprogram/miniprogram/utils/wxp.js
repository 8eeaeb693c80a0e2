// Promise forms of the callback-style wx APIs the pages use.

function call(name, options) {
  return new Promise((resolve, reject) => {
    wx[name](
      Object.assign({}, options || {}, {
        success: resolve,
        fail: (err) => reject(Object.assign(new Error((err && err.errMsg) || `${name}:fail`), err || {})),
      }),
    );
  });
}

/** The user closed the picker or the dialog: not an error to report. */
function isCancel(err) {
  return Boolean(err && /cancel/i.test(err.errMsg || err.message || ''));
}

/** navigateTo, or redirectTo when the page stack is full (the platform keeps 10 pages). */
function openPage(url) {
  const depth = typeof getCurrentPages === 'function' ? getCurrentPages().length : 0;
  return call(depth >= 9 ? 'redirectTo' : 'navigateTo', { url });
}

function toast(title) {
  wx.showToast({ title: String(title).slice(0, 60), icon: 'none', duration: 2500 });
}

module.exports = { call, isCancel, openPage, toast };
