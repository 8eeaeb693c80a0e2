// The visitor's favorites (GET /api/v1/me/favorites): see utils/list-page.js.
const { listPage } = require('../../utils/list-page.js');

Page(listPage('favorites'));
