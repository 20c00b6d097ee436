// 驿站通 shared helpers (every page): configuration, DOM building with text nodes, JSON fetches with
// bilingual errors, the CSRF token, coordinate display (WGS-84 -> GCJ-02 for Amap tiles), formatting.
// Rule: data from the server or the user is only ever put into the page with textContent / attributes,
// never innerHTML.
(function () {
  'use strict';
  var YZ = window.YZ = {};
  var node = document.getElementById('yz-config');
  try { YZ.config = JSON.parse((node && node.textContent) || '{}') || {}; } catch (e) { YZ.config = {}; }

  // -- DOM --------------------------------------------------------------------------------------------
  // el('a', {cls: 'x', text: 'label', attrs: {href: u}}, [children]) — text via textContent only.
  YZ.el = function (tag, opts, children) {
    var e = document.createElement(tag);
    opts = opts || {};
    if (opts.cls) e.className = opts.cls;
    if (opts.text !== undefined && opts.text !== null) e.textContent = String(opts.text);
    if (opts.attrs) Object.keys(opts.attrs).forEach(function (k) {
      if (opts.attrs[k] !== undefined && opts.attrs[k] !== null && opts.attrs[k] !== false) e.setAttribute(k, String(opts.attrs[k]));
    });
    (children || []).forEach(function (c) {
      if (c === null || c === undefined) return;
      e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    });
    return e;
  };
  // Chinese label with a small English one after it.
  YZ.bi = function (tag, zh, en, cls) {
    return YZ.el(tag, {cls: cls}, [zh, en ? YZ.el('small', {text: en}) : null]);
  };
  YZ.clear = function (e) { while (e.firstChild) e.removeChild(e.firstChild); return e; };
  // Leaflet puts string tooltip/popup content into the page with innerHTML: give it this element
  // holding the text instead (bindTooltip(YZ.textTip(name))), never a string built from data.
  YZ.textTip = function (text) { return YZ.el('span', {text: text}); };

  // -- HTTP -------------------------------------------------------------------------------------------
  function apiError(status, body) {
    var err = (body && body.error) || {};
    var e = new Error(err.en || ('HTTP ' + status));
    e.zh = err.zh || ('请求失败（' + status + '）');
    e.en = err.en || ('request failed (' + status + ')');
    e.status = status; e.field = err.field; e.problems = err.problems || null; e.problemCount = err.problem_count;
    e.current = err.current || null; e.version = err.version;     // 412: the record as it is now
    return e;
  }
  function handle(resp) {
    var type = resp.headers.get('Content-Type') || '';
    var body = type.indexOf('json') >= 0 ? resp.json().catch(function () { return null; }) : Promise.resolve(null);
    return body.then(function (data) {
      if (!resp.ok) throw apiError(resp.status, data);
      return data;
    });
  }
  YZ.getJSON = function (url, opts) {
    return fetch(url, {credentials: 'same-origin', headers: {Accept: 'application/json'},
                       signal: opts && opts.signal}).then(handle);
  };
  var csrfPromise = null;
  // The session's CSRF token from /api/me (falls back to the page's meta tag).
  YZ.csrf = function () {
    if (!csrfPromise) {
      csrfPromise = YZ.getJSON('/api/me').then(function (me) {
        YZ.me = me;
        return (me && me.csrf) || YZ.metaCsrf();
      }).catch(function () { return YZ.metaCsrf(); });
    }
    return csrfPromise;
  };
  YZ.metaCsrf = function () {
    var m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.getAttribute('content') : '';
  };
  // A JSON request with the CSRF token (POST, PATCH, PUT, DELETE).
  YZ.sendJSON = function (method, url, body) {
    return YZ.csrf().then(function (token) {
      return fetch(url, {method: method, credentials: 'same-origin',
                         headers: {'Content-Type': 'application/json', Accept: 'application/json', 'X-CSRF-Token': token},
                         body: JSON.stringify(body || {})}).then(handle);
    });
  };
  YZ.postJSON = function (url, body) { return YZ.sendJSON('POST', url, body); };
  // A JSON request that also answers the response's ETag: resolves to {data, etag}.  ``headers``
  // are added (e.g. If-Match); GET needs no CSRF token.
  YZ.requestJSON = function (method, url, body, headers) {
    var send = function (token) {
      var h = {Accept: 'application/json'};
      if (token) h['X-CSRF-Token'] = token;
      if (method !== 'GET') h['Content-Type'] = 'application/json';
      Object.keys(headers || {}).forEach(function (k) { if (headers[k]) h[k] = headers[k]; });
      return fetch(url, {method: method, credentials: 'same-origin', headers: h,
                         body: method === 'GET' ? undefined : JSON.stringify(body || {})}).then(function (resp) {
        var etag = resp.headers.get('ETag');
        return handle(resp).then(function (data) { return {data: data, etag: etag}; });
      });
    };
    return method === 'GET' ? send(null) : YZ.csrf().then(send);
  };
  // A multipart upload (FormData) with the CSRF token.
  YZ.upload = function (url, formData) {
    return YZ.csrf().then(function (token) {
      return fetch(url, {method: 'POST', credentials: 'same-origin', body: formData,
                         headers: {Accept: 'application/json', 'X-CSRF-Token': token}}).then(handle);
    });
  };
  YZ.errorText = function (e) {
    if (e && e.name === 'AbortError') return '';
    if (e && e.zh) return e.zh + ' / ' + e.en;
    return '网络错误 / network error' + (e && e.message ? ' (' + e.message + ')' : '');
  };
  // Hotspot dataset selector: fills <select> from GET /api/datasets (newest first, the newest selected:
  // the analyses' default), shows its wrapper ([data-dataset-wrap]) when there is at least one dataset
  // and calls onChange(id) when another is chosen.  Anonymous visitors (401) keep the default.
  YZ.datasetSelect = function (sel, onChange) {
    if (!sel) return Promise.resolve(null);
    var wrap = sel.closest('[data-dataset-wrap]') || sel;
    return YZ.getJSON('/api/datasets').then(function (list) {
      list = list || [];
      YZ.clear(sel);
      list.forEach(function (d, i) {
        sel.appendChild(YZ.el('option', {text: d.name + (i === 0 ? '（最新 / newest）' : ''),
                                         attrs: {value: String(d.id), 'data-rows': d.rows}}));
      });
      wrap.hidden = !list.length;
      sel.setAttribute('data-ready', '1');
      if (onChange) sel.addEventListener('change', function () { onChange(sel.value); });
      return list;
    }).catch(function () { wrap.hidden = true; sel.setAttribute('data-ready', '1'); return null; });
  };
  YZ.query = function (params) {
    var q = new URLSearchParams();
    Object.keys(params).forEach(function (k) {
      var v = params[k];
      if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
    });
    return q.toString();
  };

  // -- coordinates ------------------------------------------------------------------------------------
  // WGS-84 -> GCJ-02, the published forward formula (same as yizhan.geodata.crs), for drawing
  // WGS-84 answers on Amap tiles.
  var A = 6378245.0, EE = 0.00669342162296594323;
  function inChina(lon, lat) { return lon >= 72.004 && lon <= 137.8347 && lat >= 0.8293 && lat <= 55.8271; }
  YZ.wgs84ToGcj02 = function (lon, lat) {
    if (!inChina(lon, lat)) return [lon, lat];
    var dx = lon - 105.0, dy = lat - 35.0, sq = Math.sqrt(Math.abs(dx)), PI = Math.PI;
    var common = (20.0 * Math.sin(6.0 * dx * PI) + 20.0 * Math.sin(2.0 * dx * PI)) * 2.0 / 3.0;
    var tlat = -100.0 + 2.0 * dx + 3.0 * dy + 0.2 * dy * dy + 0.1 * dx * dy + 0.2 * sq + common +
      (20.0 * Math.sin(dy * PI) + 40.0 * Math.sin(dy / 3.0 * PI)) * 2.0 / 3.0 +
      (160.0 * Math.sin(dy / 12.0 * PI) + 320.0 * Math.sin(dy * PI / 30.0)) * 2.0 / 3.0;
    var tlon = 300.0 + dx + 2.0 * dy + 0.1 * dx * dx + 0.1 * dx * dy + 0.1 * sq + common +
      (20.0 * Math.sin(dx * PI) + 40.0 * Math.sin(dx / 3.0 * PI)) * 2.0 / 3.0 +
      (150.0 * Math.sin(dx / 12.0 * PI) + 300.0 * Math.sin(dx / 30.0 * PI)) * 2.0 / 3.0;
    var rad = lat / 180.0 * PI, magic = 1.0 - EE * Math.sin(rad) * Math.sin(rad), sm = Math.sqrt(magic);
    return [lon + (tlon * 180.0) / (A / sm * Math.cos(rad) * PI),
            lat + (tlat * 180.0) / ((A * (1.0 - EE)) / (magic * sm) * PI)];
  };
  YZ.displayCrs = YZ.config.crs || 'wgs84';
  // A WGS-84 point from the API as a Leaflet LatLng in the base map's system.
  YZ.toMap = function (lon, lat) {
    if (YZ.displayCrs === 'gcj02') { var g = YZ.wgs84ToGcj02(lon, lat); return L.latLng(g[1], g[0]); }
    return L.latLng(lat, lon);
  };
  // For display only (markers of typed points): BD-09 -> GCJ-02 closed form, GCJ-02 -> WGS-84 one step (~1 m).
  YZ.bd09ToGcj02 = function (lon, lat) {
    var xp = Math.PI * 3000.0 / 180.0, x = lon - 0.0065, y = lat - 0.006;
    var z = Math.sqrt(x * x + y * y) - 0.00002 * Math.sin(y * xp), t = Math.atan2(y, x) - 0.000003 * Math.cos(x * xp);
    return [z * Math.cos(t), z * Math.sin(t)];
  };
  YZ.pointToMap = function (lon, lat, crs) {
    if (crs === 'bd09') { var g = YZ.bd09ToGcj02(lon, lat); lon = g[0]; lat = g[1]; crs = 'gcj02'; }
    if (crs === YZ.displayCrs || (crs === 'wgs84' && YZ.displayCrs !== 'gcj02')) return L.latLng(lat, lon);
    if (crs === 'wgs84') return YZ.toMap(lon, lat);
    var f = YZ.wgs84ToGcj02(lon, lat);  // GCJ-02 point on a WGS-84 map
    return L.latLng(2 * lat - f[1], 2 * lon - f[0]);
  };
  // Bounds [[s, w], [n, e]] (WGS-84) in the display system.
  YZ.boundsToMap = function (b) {
    if (!b) return null;
    return L.latLngBounds(YZ.toMap(b[0][1], b[0][0]), YZ.toMap(b[1][1], b[1][0]));
  };
  // Base map per the TILES setting (nothing when TILES = none: a plain background, fully offline).
  YZ.addTiles = function (map) {
    (YZ.config.tiles || []).forEach(function (t) {
      L.tileLayer(t.url, {attribution: t.attribution, subdomains: t.subdomains, maxZoom: t.max_zoom}).addTo(map);
    });
  };

  // -- formatting -------------------------------------------------------------------------------------
  YZ.fmtDistance = function (m) {
    if (m === null || m === undefined || !isFinite(m)) return '—';
    return m < 1000 ? Math.round(m) + ' 米' : (m / 1000).toFixed(m < 10000 ? 1 : 0) + ' 公里';
  };
  YZ.fmtDistanceEn = function (m) {
    if (m === null || m === undefined || !isFinite(m)) return '';
    return m < 1000 ? Math.round(m) + ' m' : (m / 1000).toFixed(m < 10000 ? 1 : 0) + ' km';
  };
  YZ.fmtMinutes = function (s) {
    if (s === null || s === undefined || !isFinite(s)) return null;
    return Math.max(1, Math.round(s / 60));
  };
  YZ.fmtPercent = function (x) {
    if (x === null || x === undefined || !isFinite(x)) return '—';
    return (x * 100).toFixed(1) + '%';
  };
  YZ.fmtNumber = function (x) {
    if (x === null || x === undefined || !isFinite(x)) return '—';
    return Math.round(x).toLocaleString('zh-CN');
  };
  YZ.list = function (v) { return Array.isArray(v) ? v.join('、') : (v || ''); };
  // Only navigation/phone schemes we expect; anything else (javascript:, data:) is dropped.
  YZ.safeUrl = function (url) {
    if (typeof url !== 'string') return null;
    return /^(https?:|amapuri:|iosamap:|androidamap:|baidumap:|bdapp:)/i.test(url.trim()) ? url.trim() : null;
  };
  YZ.telUrl = function (phone) {
    var digits = String(phone || '').replace(/[^0-9+\-]/g, '');
    return digits.length >= 3 ? 'tel:' + digits : null;
  };

  // -- station markers ---------------------------------------------------------------------------------
  YZ.stationStyle = function (type) {
    return (YZ.config.styles || {})[type] || {color: 'gray', icon: 'location-dot', hex: '#575757'};
  };
  YZ.stationIcon = function (type) {
    var s = YZ.stationStyle(type);
    if (L.AwesomeMarkers) return L.AwesomeMarkers.icon({icon: s.icon, prefix: 'fa', markerColor: s.color, iconColor: 'white'});
    return new L.Icon.Default();
  };
})();
