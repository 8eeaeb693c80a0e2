// Where the mini-program finds the museum officer server.
//
// WeChat only lets a published mini-program call HTTPS domains registered in
// the Mini Program admin console (开发管理 -> 开发设置 -> 服务器域名): put your
// server's domain under BOTH "request合法域名" (wx.request) and
// "uploadFile合法域名" (wx.uploadFile, used for the photo). The cards' images
// and audio load from the URLs the server gives: serve them over HTTPS. Plain http:// and IP addresses only work in WeChat DevTools with
// "不校验合法域名…" (Details -> Local Settings -> "Do not verify valid domain
// names") ticked, or on a phone in debug mode.
//
// The base URL is chosen by the version the mini-program runs as
// (wx.getAccountInfoSync().miniProgram.envVersion): `develop` in DevTools and
// previews, `trial` for the trial version, `release` once published.

const BASE_URLS = {
  // Your development server (scripts/run-demo.sh serves on this address).
  develop: 'http://127.0.0.1:8080',
  // Set these to YOUR registered HTTPS domain before uploading a version.
  trial: 'https://museum.example.com',
  release: 'https://museum.example.com',
};

module.exports = {
  BASE_URLS,
  // The museum the visitor is in when they have not picked one (`null`: recognise across all museums).
  defaultMuseum: 'palace-demo',
  // Answer language when the phone's language is neither Chinese nor English.
  defaultLang: 'zh',
  // wx.request timeout; wx.uploadFile gets the platform's maximum (60 s).
  requestTimeoutMs: 15000,
  uploadTimeoutMs: 60000,
  // The server refuses uploads over 16 MiB (upload_too_large); checked before uploading.
  maxUploadBytes: 16 * 1024 * 1024,

  /** The base URL for the running version (no trailing slash). */
  baseUrl(wxApi) {
    let env = 'release';
    try {
      const w = wxApi || (typeof wx !== 'undefined' ? wx : null);
      const info = w && w.getAccountInfoSync && w.getAccountInfoSync();
      env = (info && info.miniProgram && info.miniProgram.envVersion) || 'release';
    } catch (e) {
      env = 'release';
    }
    return (BASE_URLS[env] || BASE_URLS.release).replace(/\/+$/, '');
  },
};
