// What the pages show, computed from the server's answers (WXML cannot call
// functions, so every value a template needs is prepared here). Fields a
// server may not send yet (lang, thumbnails, related_exhibits, thumbnail,
// museum names) are optional: the views fall back to what is there.

const { texts } = require('./i18n.js');

/** `u` when it is an absolute http(s) URL (what <image>/<audio> can load), else ''. */
function absoluteUrl(u) {
  return typeof u === 'string' && /^https?:\/\//i.test(u) ? u : '';
}

/** The primary language subtag: 'zh' for 'zh-Hans-CN' or WeChat's 'zh_CN'. */
function primaryLang(tag) {
  return String(tag || '')
    .split(/[-_]/)[0]
    .toLowerCase();
}

function joinNonEmpty(parts, sep) {
  return parts.filter((p) => typeof p === 'string' && p.trim() !== '').join(sep);
}

/** An exhibit summary ({id, museum, title, period?, maker?, gallery?, image?, thumbnail?}) for a list row. */
function summaryView(s) {
  const e = s || {};
  return {
    key: `${e.museum || ''}/${e.id}`,
    id: e.id,
    museum: e.museum || '',
    title: e.title || e.id,
    subtitle: joinNonEmpty([e.period, e.maker], ' · '),
    gallery: e.gallery || '',
    thumb: absoluteUrl(e.thumbnail) || absoluteUrl(e.image),
  };
}

/** Related exhibits: the summaries when the card has them, else rows made from the bare ids. */
function relatedView(card) {
  if (Array.isArray(card.related_exhibits)) return card.related_exhibits.map(summaryView);
  return (Array.isArray(card.related) ? card.related : []).map((id) =>
    summaryView({ id, museum: card.museum, title: id }),
  );
}

const FACTS = [
  ['objectType', 'object_type'],
  ['period', 'period'],
  ['date', 'date'],
  ['maker', 'maker'],
  ['material', 'material'],
  ['dimensions', 'dimensions'],
  ['gallery', 'gallery'],
  ['accession', 'accession_number'],
];

/** The card page's view of an ExhibitCard, for the language `lang` the visitor asked for. */
function cardView(card, lang) {
  const t = texts(lang);
  const images = (Array.isArray(card.images) ? card.images : []).map(absoluteUrl).filter(Boolean);
  const thumbnails = (Array.isArray(card.thumbnails) ? card.thumbnails : []).map(absoluteUrl).filter(Boolean);
  const textLang = typeof card.lang === 'string' ? card.lang : '';
  return {
    id: card.id,
    museum: card.museum || '',
    title: card.title || card.id,
    accession_number: card.accession_number || '',
    object_type: card.object_type || '',
    period: card.period || '',
    date: card.date || '',
    maker: card.maker || '',
    material: card.material || '',
    dimensions: card.dimensions || '',
    gallery: card.gallery || '',
    introduction: card.introduction || '',
    rights: card.rights || '',
    image: images[0] || '',
    images,
    thumbnails,
    audioUrl: absoluteUrl(card.audio_url),
    facts: FACTS.filter(([, key]) => card[key]).map(([label, key]) => ({ key, label: t[label], value: card[key] })),
    related: relatedView(card),
    // Bare ids only: the page fetches the card (GET /exhibits/{id}) for their titles.
    relatedNeedDetails: !Array.isArray(card.related_exhibits) && Array.isArray(card.related) && card.related.length > 0,
    lang: textLang,
    // The text came in another language than the one asked for (the server falls back when a record lacks it).
    otherLanguage: textLang !== '' && primaryLang(textLang) !== primaryLang(lang),
  };
}

/** Alternatives of a recognition ({id, museum, title, score}) as choices. */
function alternativesView(alternatives) {
  return (Array.isArray(alternatives) ? alternatives : []).map((a) => ({
    key: `${a.museum || ''}/${a.id}`,
    id: a.id,
    museum: a.museum || '',
    title: a.title || a.id,
    score: typeof a.score === 'number' ? Math.round(Math.max(0, Math.min(1, a.score)) * 100) : null,
  }));
}

function pad(n) {
  return n < 10 ? `0${n}` : String(n);
}

/** `at` (milliseconds since the epoch; seconds accepted) as YYYY-MM-DD HH:mm, local time. */
function formatAt(at) {
  if (typeof at !== 'number' || !Number.isFinite(at)) return '';
  const d = new Date(at < 1e12 ? at * 1000 : at);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** A history/favorites entry ({exhibit_id, museum, at, exhibit?}) as a list row. */
function listItemView(item, lang) {
  const t = texts(lang);
  const base = summaryView(Object.assign({ id: item.exhibit_id, museum: item.museum }, item.exhibit || {}));
  return Object.assign(base, {
    // The entry's own museum (the summary's is the same when present).
    museum: item.museum || base.museum,
    key: `${item.museum || base.museum}/${item.exhibit_id}`,
    id: item.exhibit_id,
    unpublished: !item.exhibit,
    subtitle: item.exhibit ? base.subtitle : t.unpublished,
    when: formatAt(item.at),
  });
}

module.exports = { absoluteUrl, primaryLang, summaryView, relatedView, cardView, alternativesView, listItemView, formatAt };
