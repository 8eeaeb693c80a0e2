// The visitor's history (GET /api/v1/me/history): see utils/list-page.js.
const { listPage } = require('../../utils/list-page.js');

Page(listPage('history'));
