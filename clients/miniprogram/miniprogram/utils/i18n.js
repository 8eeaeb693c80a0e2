// The few words the pages show, in the two languages the server answers in.
// The exhibit texts themselves come from the server, in the language asked for.

const TEXT = {
  zh: {
    appTitle: '博物馆官',
    takePhoto: '拍照识别展品',
    choosePhoto: '拍照或从相册选择',
    museum: '博物馆',
    allMuseums: '全部博物馆',
    language: '语言',
    search: '搜索展品',
    searchPlaceholder: '名称、作者、朝代',
    noResults: '没有找到展品',
    more: '加载更多',
    recognising: '识别中…',
    loading: '加载中…',
    objectType: '类别',
    period: '时代',
    date: '年代',
    maker: '作者',
    material: '材质',
    dimensions: '尺寸',
    gallery: '展厅',
    accession: '文物号',
    rights: '版权',
    introduction: '讲解',
    related: '相关展品',
    play: '播放讲解',
    pause: '暂停讲解',
    audioFailed: '音频无法播放',
    favorite: '收藏',
    favorited: '已收藏',
    unfavorite: '取消收藏',
    removed: '已移除',
    ambiguous: '照片里可能是以下展品，请选择：',
    noMatch: '没有认出这件展品',
    tryAgain: '再拍一张',
    history: '浏览记录',
    favorites: '我的收藏',
    emptyHistory: '还没有识别过展品',
    emptyFavorites: '还没有收藏展品',
    unpublished: '该展品已下架',
    remove: '移除',
    otherLanguage: '该展品暂无中文介绍，以下为其他语言',
    notLoggedIn: '未登录：本次识别不会记入浏览记录',
    confidence: '匹配度',
    failed: '识别失败',
    emptyCollection: '这里还没有可识别的展品',
  },
  en: {
    appTitle: 'Museum Officer',
    takePhoto: 'Photograph an exhibit',
    choosePhoto: 'Take a photo or pick one',
    museum: 'Museum',
    allMuseums: 'All museums',
    language: 'Language',
    search: 'Search exhibits',
    searchPlaceholder: 'Title, maker, period',
    noResults: 'No exhibits found',
    more: 'Load more',
    recognising: 'Recognising…',
    loading: 'Loading…',
    objectType: 'Type',
    period: 'Period',
    date: 'Date',
    maker: 'Maker',
    material: 'Material',
    dimensions: 'Dimensions',
    gallery: 'Gallery',
    accession: 'Accession no.',
    rights: 'Rights',
    introduction: 'Introduction',
    related: 'Related exhibits',
    play: 'Play audio guide',
    pause: 'Pause audio guide',
    audioFailed: 'The audio cannot be played',
    favorite: 'Favorite',
    favorited: 'Saved to favorites',
    unfavorite: 'Remove from favorites',
    removed: 'Removed',
    ambiguous: 'The photo could show one of these. Which one?',
    noMatch: 'We could not recognise this exhibit',
    tryAgain: 'Try another photo',
    history: 'History',
    favorites: 'Favorites',
    emptyHistory: 'No exhibits recognised yet',
    emptyFavorites: 'No favorites yet',
    unpublished: 'No longer on display',
    remove: 'Remove',
    otherLanguage: 'No English text yet for this exhibit; shown in another language',
    notLoggedIn: 'Not logged in: this recognition will not go into your history',
    confidence: 'Confidence',
    failed: 'Recognition failed',
    emptyCollection: 'No exhibits can be recognised here yet',
  },
};

/** 'zh' or 'en' for a BCP-47 tag or a WeChat language ('zh_CN', 'en', 'zh_TW'). */
function baseLang(tag) {
  const t = String(tag || '').toLowerCase();
  if (t.startsWith('en')) return 'en';
  if (t.startsWith('zh')) return 'zh';
  return '';
}

function texts(lang) {
  return TEXT[baseLang(lang) || 'zh'];
}

/** A message a visitor can act on for an ApiError (or any error). */
function errorMessage(err, lang) {
  const en = baseLang(lang) === 'en';
  const e = err || {};
  const wait = e.retryAfter ? (en ? ` Try again in ${e.retryAfter} s.` : `请 ${e.retryAfter} 秒后再试。`) : '';
  switch (e.code) {
    case 'network_error':
      return en ? 'No connection to the museum guide. Check your network.' : '网络不可用，请检查网络连接';
    case 'busy':
    case 'not_ready':
    case 'rate_limited':
    case 'wechat_rate_limited':
    case 'store_unavailable':
    case 'wechat_unavailable':
      return (en ? 'The guide is busy.' : '讲解员正忙。') + wait;
    case 'timeout':
    case 'upload_timeout':
      return en ? 'That took too long. Please try again.' : '请求超时，请重试';
    case 'invalid_image':
    case 'empty_file':
      return en ? 'This photo could not be read. Take another one.' : '无法读取这张照片，请重拍';
    case 'image_too_small':
      return en ? 'The photo is too small. Take a bigger one.' : '照片太小，请重拍';
    case 'image_too_large':
    case 'upload_too_large':
      return en ? 'The photo is too large.' : '照片太大';
    case 'museum_not_found':
      return en ? 'This museum is not available.' : '该博物馆暂不可用';
    case 'exhibit_not_found':
      return en ? 'This exhibit is not available.' : '该展品暂不可用';
    case 'wx_login_failed':
    case 'login_code_invalid':
    case 'login_code_used':
    case 'login_refused':
    case 'session_invalid':
    case 'login_required':
      return en ? 'Could not log in with WeChat.' : '微信登录失败';
    default: {
      const ref = e.requestId ? ` (${e.requestId})` : '';
      return (e.message || (en ? 'Something went wrong.' : '出错了')) + ref;
    }
  }
}

module.exports = { TEXT, texts, baseLang, errorMessage };
