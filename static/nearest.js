// Rider page (/nearest): the phone's position (navigator.geolocation) -> /api/nearest -> cards with distance,
// riding time, services, open now, phone and Amap/Baidu navigation links (URLs from the API).
// Without a position: tap the small map or type coordinates with their system (高德/百度/GPS).
(function () {
  'use strict';
  var YZ = window.YZ, cfg = YZ.config;
  var statusEl = document.getElementById('rider-status');
  var results = document.getElementById('results');
  var manual = document.getElementById('manual');
  var groupSel = document.getElementById('group');
  var openOnly = document.getElementById('open-only');
  var last = null;          // {lon, lat, crs, label}
  var tapMap = null, tapMarker = null, controller = null;

  function status(text, isError) {
    statusEl.textContent = text;
    statusEl.classList.toggle('is-error', !!isError);
  }
  function nowHHMM() {
    var d = new Date();
    return ('0' + d.getHours()).slice(-2) + ':' + ('0' + d.getMinutes()).slice(-2);
  }

  // -- results ----------------------------------------------------------------------------------------
  function card(s, i) {
    var style = YZ.stationStyle(s.type);
    var li = YZ.el('li', {cls: 'station-card', attrs: {'data-id': s.id}});
    li.style.borderLeftColor = style.hex;
    li.appendChild(YZ.el('h2', {}, [YZ.el('span', {cls: 'rank', text: i + 1, attrs: {'aria-hidden': 'true'}}),
                                    YZ.el('span', {cls: 'name', text: s.name || '（未命名）'})]));
    li.appendChild(YZ.el('p', {cls: 'type', text: (s.type || '') + (s.status && s.status !== '在运营' ? ' · ' + s.status : '')}));
    var minutes = YZ.fmtMinutes(s.riding_time_s);
    var road = s.road_distance_m !== null && s.road_distance_m !== undefined;
    var meters = road ? s.road_distance_m : s.distance_m;
    var dist = YZ.el('p', {cls: 'dist'}, [YZ.fmtDistance(meters)]);
    if (minutes !== null) dist.appendChild(YZ.el('span', {cls: 'ride', text: ' · 骑行约 ' + minutes + ' 分钟'}));
    dist.appendChild(YZ.el('small', {cls: 'd-block', text: YZ.fmtDistanceEn(meters) + (road ? ' by road' : ' straight line') +
                                     (minutes !== null ? ' · about ' + minutes + ' min by e-bike' : '')}));
    li.appendChild(dist);
    var open = s.open_now === undefined ? s.open : s.open_now;
    var badge = open === true ? ['badge badge-open', '开放中 / open now'] : open === false ? ['badge badge-closed', '现在未开放 / closed now']
      : ['badge badge-unknown', '开放时间未知 / hours unknown'];
    li.appendChild(YZ.el('p', {cls: 'meta'}, [YZ.el('span', {cls: badge[0], text: badge[1]}), ' ',
                                              s.hours ? YZ.el('span', {text: '开放时间 ' + s.hours}) : null]));
    if (s.services && s.services.length) {
      li.appendChild(YZ.el('ul', {cls: 'chips', attrs: {'aria-label': '服务 / services'}},
                           s.services.map(function (x) { return YZ.el('li', {text: x}); })));
    }
    if (s.address) li.appendChild(YZ.el('p', {cls: 'meta'}, [YZ.el('i', {cls: 'fa-solid fa-location-dot', attrs: {'aria-hidden': 'true'}}), ' ', s.address]));
    if (s.capacity) li.appendChild(YZ.el('p', {cls: 'meta', text: '座位 ' + s.capacity + ' 个 / seats'}));
    var tel = YZ.telUrl(s.phone);
    if (tel) {
      li.appendChild(YZ.el('a', {cls: 'btn btn-outline-dark btn-phone', attrs: {href: tel}},
                           [YZ.el('i', {cls: 'fa-solid fa-phone', attrs: {'aria-hidden': 'true'}}), ' 拨打 ' + s.phone, YZ.el('small', {text: 'Call'})]));
    }
    var nav = s.nav || {};
    var amap = YZ.safeUrl(nav.amap), baidu = YZ.safeUrl(nav.baidu);
    if (amap || baidu) {
      var buttons = YZ.el('div', {cls: 'nav-buttons'});
      if (amap) buttons.appendChild(YZ.el('a', {cls: 'btn btn-amap nav-amap', attrs: {href: amap, target: '_blank', rel: 'noopener noreferrer'}},
                                           [YZ.el('i', {cls: 'fa-solid fa-diamond-turn-right', attrs: {'aria-hidden': 'true'}}), ' 高德导航', YZ.el('small', {text: 'Amap'})]));
      if (baidu) buttons.appendChild(YZ.el('a', {cls: 'btn btn-baidu nav-baidu', attrs: {href: baidu, target: '_blank', rel: 'noopener noreferrer'}},
                                            [YZ.el('i', {cls: 'fa-solid fa-diamond-turn-right', attrs: {'aria-hidden': 'true'}}), ' 百度导航', YZ.el('small', {text: 'Baidu'})]));
      li.appendChild(buttons);
    }
    return li;
  }

  function search(pos) {
    last = pos;
    if (controller) controller.abort();
    controller = new AbortController();
    var params = {lon: pos.lon.toFixed(6), lat: pos.lat.toFixed(6), crs: pos.crs, k: cfg.k || 5, group: groupSel.value};
    if (openOnly.checked) params.open_at = nowHHMM();
    status('正在查找… / searching…');
    results.setAttribute('aria-busy', 'true');
    return YZ.getJSON('/api/nearest?' + YZ.query(params), {signal: controller.signal}).then(function (list) {
      YZ.clear(results);
      (list || []).forEach(function (s, i) { results.appendChild(card(s, i)); });
      results.setAttribute('data-count', String((list || []).length));
      if (!list || !list.length) status('附近没有符合条件的驿站 / no matching station nearby', true);
      else status('离' + pos.label + '最近的 ' + list.length + ' 个驿站 / the ' + list.length + ' nearest stations to ' + pos.labelEn);
      if (tapMap) showStations(list || []);
      if (pos.scroll && list && list.length) statusEl.scrollIntoView({behavior: 'smooth', block: 'start'});
    }).catch(function (e) {
      var t = YZ.errorText(e);
      if (t) status(t, true);
    }).then(function () { results.removeAttribute('aria-busy'); });
  }

  // -- geolocation --------------------------------------------------------------------------------------
  function locate() {
    if (!('geolocation' in navigator)) {
      status('此浏览器无法定位，请在地图上点选或输入坐标 / this browser cannot locate you: tap the map or type coordinates', true);
      openManual();
      return;
    }
    status('正在定位… / locating…');
    navigator.geolocation.getCurrentPosition(function (p) {
      var acc = p.coords.accuracy ? '（±' + Math.round(p.coords.accuracy) + ' 米）' : '';
      if (tapMap) placeMarker(YZ.toMap(p.coords.longitude, p.coords.latitude));
      search({lon: p.coords.longitude, lat: p.coords.latitude, crs: 'wgs84', label: '您' + acc, labelEn: 'you'});
    }, function (err) {
      var why = err && err.code === 1 ? '您没有允许定位 / location permission refused'
        : err && err.code === 3 ? '定位超时 / locating timed out' : '无法获得位置 / position unavailable';
      status(why + '。请在地图上点选或输入坐标 / tap the map or type coordinates.', true);
      openManual();
    }, {enableHighAccuracy: true, timeout: 15000, maximumAge: 60000});
  }

  // -- manual position ------------------------------------------------------------------------------------
  function openManual() {
    manual.open = true;
    initMap();
  }
  var stationLayer = null;
  function showStations(list) {
    if (!stationLayer) stationLayer = L.layerGroup().addTo(tapMap);
    stationLayer.clearLayers();
    list.forEach(function (s, i) {
      var m = L.circleMarker(YZ.toMap(s.lon, s.lat), {radius: 8, color: '#fff', weight: 2, fillColor: YZ.stationStyle(s.type).hex, fillOpacity: 1});
      m.bindTooltip(YZ.textTip(String(i + 1) + '. ' + (s.name || '')));
      stationLayer.addLayer(m);
    });
  }
  function initMap() {
    if (tapMap) { tapMap.invalidateSize(); return; }
    tapMap = L.map('tap-map', {zoomControl: true, attributionControl: !!(cfg.tiles || []).length});
    YZ.addTiles(tapMap);
    if (tapMap.attributionControl) tapMap.attributionControl.setPrefix('Leaflet');
    var b = YZ.boundsToMap(cfg.bounds);
    function fit() { if (b) tapMap.fitBounds(b); else tapMap.setView([23.13, 113.32], 10); }
    fit();
    // district outlines and names give orientation when there is no base map
    YZ.getJSON('/api/boundaries?' + YZ.query({level: 'district', parent: cfg.city || '',
                                              out_crs: YZ.displayCrs === 'gcj02' ? 'gcj02' : ''})).then(function (fc) {
      L.geoJSON(fc, {interactive: false, style: {color: '#546e7a', weight: 1, fillColor: '#fff', fillOpacity: 0.5}}).addTo(tapMap);
      (fc.features || []).forEach(function (f) {
        var c = L.geoJSON(f).getBounds().getCenter();
        L.marker(c, {interactive: false, keyboard: false,
                     icon: L.divIcon({className: 'yz-area-label', html: YZ.el('span', {text: (f.properties || {}).name || ''}), iconSize: null})}).addTo(tapMap);
      });
    }).catch(function () {});
    tapMap.on('click', function (e) {
      var crs = YZ.displayCrs;  // the tiles' system: WGS-84, or GCJ-02 on Amap tiles
      placeMarker(e.latlng);
      search({lon: e.latlng.lng, lat: e.latlng.lat, crs: crs, label: '所选位置', labelEn: 'the chosen point'});
    });
    setTimeout(function () { tapMap.invalidateSize(); if (!tapMarker) fit(); }, 60);
  }
  function placeMarker(ll) {
    if (tapMarker) { tapMarker.setLatLng(ll); return; }
    tapMarker = L.marker(ll, {title: '所选位置 / chosen position', keyboard: false,
                              icon: L.icon({iconUrl: cfg.here_icon, iconSize: [28, 28], iconAnchor: [14, 14]})}).addTo(tapMap);
  }
  manual.addEventListener('toggle', function () { if (manual.open) initMap(); });

  document.getElementById('coord-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var text = document.getElementById('coords').value;
    var nums = (text.match(/-?\d+(?:\.\d+)?/g) || []).map(Number);
    var crs = (document.querySelector('input[name="crs"]:checked') || {}).value || 'wgs84';
    if (nums.length !== 2 || !isFinite(nums[0]) || !isFinite(nums[1])) {
      status('请输入“经度, 纬度”两个数字，例如 ' + (document.getElementById('coords').placeholder || '113.3245, 23.1375') +
             ' / enter two numbers: longitude, latitude', true);
      return;
    }
    var lon = nums[0], lat = nums[1];
    if (Math.abs(lon) <= 90 && Math.abs(lat) > 90) { var t = lon; lon = lat; lat = t; }  // typed as "lat, lon"
    if (Math.abs(lon) > 180 || Math.abs(lat) > 90) {
      status('坐标超出范围 / coordinates out of range', true);
      return;
    }
    if (tapMap) placeMarker(YZ.pointToMap(lon, lat, crs));
    search({lon: lon, lat: lat, crs: crs, label: '输入的位置', labelEn: 'the given point', scroll: true});
  });

  document.getElementById('locate').addEventListener('click', locate);
  groupSel.addEventListener('change', function () { if (last) search(last); });
  openOnly.addEventListener('change', function () { if (last) search(last); });
  locate();
})();
