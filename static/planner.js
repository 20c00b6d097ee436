// Planner map (/): fills the folium skeleton (window.YIZHAN_MAP) from the JSON API for the current view.
// Layers: district boundaries, H3 hexagons coloured by distance class, clustered stations, blank spots,
// blind-zone outlines.  Reloads on moveend (debounced) and on filter change; the summary table and the
// download links follow the filters.  Counts of loaded features are published as data-* attributes on
// #planner-map (data-hexagons, data-stations, data-blank, data-zones, data-state) for tests.
(function () {
  'use strict';
  var YZ = window.YZ, cfg = YZ.config, bridge = window.YIZHAN_MAP;
  if (!bridge) return;
  var map = bridge.map, layers = bridge.layers;
  var box = document.getElementById('planner-map');
  var form = document.getElementById('filters');
  var statusEl = document.getElementById('status');
  var BLANK_LIMIT = 100;

  // panes keep the order boundaries < hexagons < zones < blank spots < markers, each with its own canvas
  [['yz-boundaries', 350], ['yz-cells', 360], ['yz-zones', 390], ['yz-labels', 395], ['yz-blank', 420]].forEach(function (p) {
    map.createPane(p[0]).style.zIndex = p[1];
  });
  map.getPane('yz-labels').style.pointerEvents = 'none';
  if (map.attributionControl) map.attributionControl.setPrefix('Leaflet');

  var counts = {stations: null, hexagons: null, blank: null, zones: null};
  var stationNames = YZ.stationNames;  // id -> name of every station loaded (for popups)
  var errors = {};

  // -- filters ----------------------------------------------------------------------------------------
  var districtOptions = Array.prototype.slice.call(form.elements.district.options, 1).map(function (o) {
    return {value: o.value, text: o.textContent, city: o.getAttribute('data-city')};
  });
  function fillDistricts(city) {
    var sel = form.elements.district;
    while (sel.options.length > 1) sel.remove(1);
    districtOptions.forEach(function (d) {
      if (city && d.city === city) {
        var o = YZ.el('option', {text: d.text, attrs: {value: d.value, 'data-city': d.city}});
        sel.appendChild(o);
      }
    });
    sel.disabled = !city;
  }
  function filters() {
    var f = form.elements;
    return {city: f.city.value, district: f.district.value, group: f.group.value, type: f.type.value,
            hour: f.hour.value, metric: f.metric.value};
  }
  function coverageParams() {
    var f = filters();
    return {metric: f.metric, group: f.group, hour: f.hour};
  }
  function outCrs() { return YZ.displayCrs === 'gcj02' ? 'gcj02' : ''; }
  // current view as a WGS-84 bbox (approximate inverse of the Amap shift: enough for a padded bbox)
  function bbox() {
    var b = map.getBounds().pad(0.15), sw = b.getSouthWest(), ne = b.getNorthEast();
    function wgs(lon, lat) {
      if (YZ.displayCrs !== 'gcj02') return [lon, lat];
      var g = YZ.wgs84ToGcj02(lon, lat);
      return [2 * lon - g[0], 2 * lat - g[1]];
    }
    var a = wgs(Math.max(sw.lng, -180), Math.max(sw.lat, -85)), c = wgs(Math.min(ne.lng, 180), Math.min(ne.lat, 85));
    return [a[0], a[1], c[0], c[1]].map(function (v) { return v.toFixed(5); }).join(',');
  }

  // -- status -----------------------------------------------------------------------------------------
  function publish() {
    Object.keys(counts).forEach(function (k) {
      if (counts[k] !== null) box.setAttribute('data-' + k, String(counts[k]));
    });
    var zh = [], en = [];
    [['stations', '站点', 'stations'], ['hexagons', '网格', 'hexagons'], ['blank', '空白点', 'blank spots'],
     ['zones', '盲区', 'blind zones']].forEach(function (k) {
      if (counts[k[0]] === null) return;
      zh.push(YZ.fmtNumber(counts[k[0]]) + ' ' + k[1]);
      en.push(k[2]);
    });
    var busy = Object.keys(pending).some(function (k) { return pending[k]; });
    var errs = Object.keys(errors).map(function (k) { return errors[k]; }).filter(Boolean);
    box.setAttribute('data-state', busy ? 'loading' : (errs.length ? 'error' : 'ready'));
    statusEl.classList.toggle('is-error', errs.length > 0);
    YZ.clear(statusEl);
    statusEl.appendChild(document.createTextNode((busy ? '加载中… ' : '') + zh.join(' · ')));
    statusEl.appendChild(YZ.el('small', {text: (busy ? 'loading… ' : '') + en.join(' · ')}));
    if (errs.length) statusEl.appendChild(YZ.el('span', {cls: 'd-block', text: errs[0]}));
  }
  var pending = {}, controllers = {};
  // one request per layer kind at a time: a newer view aborts the older request
  function load(kind, url, draw) {
    if (controllers[kind]) controllers[kind].abort();
    var ctl = controllers[kind] = new AbortController();
    pending[kind] = true; errors[kind] = null; publish();
    return YZ.getJSON(url, {signal: ctl.signal}).then(function (data) {
      if (ctl.signal.aborted) return;
      draw(data);
    }).catch(function (e) {
      if (e && e.name === 'AbortError') return;
      errors[kind] = YZ.errorText(e);
    }).then(function () {
      if (controllers[kind] === ctl) { pending[kind] = false; publish(); }
    });
  }

  // -- popups -----------------------------------------------------------------------------------------
  function dl(rows) {
    var list = YZ.el('dl');
    rows.forEach(function (r) {
      if (r[2] === null || r[2] === undefined || r[2] === '') return;
      list.appendChild(YZ.el('dt', {}, [r[0], YZ.el('small', {text: r[1]})]));
      list.appendChild(YZ.el('dd', {text: String(r[2])}));
    });
    return list;
  }
  function nearestName(id) { return id ? (stationNames[id] ? stationNames[id] + '（' + id + '）' : id) : ''; }
  function cellPopup(p) {
    var cls = (cfg.dclasses || [])[p.dclass] || {};
    return YZ.el('div', {cls: 'yz-popup'}, [
      YZ.bi('h3', '覆盖网格', 'hexagon'),
      dl([['需求', 'demand', YZ.fmtNumber(p.demand)],
          ['最近站点距离', 'distance', YZ.fmtDistance(p.distance_m)],
          ['距离等级', 'class', cls.zh ? cls.zh + ' / ' + cls.en : p.dclass],
          ['已覆盖', 'covered', p.covered ? '是 / yes' : '否 / no'],
          ['最近站点', 'nearest', nearestName(p.nearest_id)],
          ['H3', 'cell', p.h3]])]);
  }
  function blankPopup(p) {
    var area = districtNames([p.adcode]);
    return YZ.el('div', {cls: 'yz-popup'}, [
      YZ.el('h3', {text: '空白点 #' + p.rank}, [YZ.el('small', {text: ' blank spot'})]),
      dl([['需求', 'demand', YZ.fmtNumber(p.demand)],
          ['最近站点距离', 'distance', YZ.fmtDistance(p.distance_m)],
          ['超出阈值', 'beyond threshold', YZ.fmtDistance(p.excess_m)],
          ['最近站点', 'nearest', nearestName(p.nearest_id)],
          ['所在区县', 'district', p.adcode ? area + (area !== String(p.adcode) ? '（' + p.adcode + '）' : '') : '']])]);
  }
  function districtNames(list) {
    if (typeof list === 'string') list = list.split(/[、,;\s]+/);
    return (list || []).map(function (code) {
      var d = districtOptions.filter(function (o) { return o.value === String(code); })[0];
      return d ? d.text : String(code);
    }).join('、');
  }
  function zonePopup(p) {
    return YZ.el('div', {cls: 'yz-popup'}, [
      YZ.el('h3', {text: '盲区 #' + p.zone}, [YZ.el('small', {text: ' blind zone'})]),
      dl([['网格数', 'cells', p.n_cells],
          ['需求', 'demand', YZ.fmtNumber(p.demand)],
          ['面积', 'area', p.area_km2 !== undefined && p.area_km2 !== null ? Number(p.area_km2).toFixed(2) + ' km²' : ''],
          ['涉及区县', 'districts', districtNames(p.districts)]])]);
  }

  // -- layers -----------------------------------------------------------------------------------------
  var boundaryCache = {}, boundaryLayer = null, labelLayer = null, highlight = null;
  function boundaryUrl(city) {
    return '/api/boundaries?' + YZ.query({level: city ? 'district' : 'city', parent: city || '440000', out_crs: outCrs()});
  }
  function getBoundaries(city) {
    if (!boundaryCache[city]) {
      boundaryCache[city] = YZ.getJSON(boundaryUrl(city)).catch(function (e) { delete boundaryCache[city]; throw e; });
    }
    return boundaryCache[city];
  }
  function drawBoundaries(city) {
    pending.boundaries = true; publish();
    return getBoundaries(city).then(function (fc) {
      layers.boundaries.clearLayers();
      boundaryLayer = L.geoJSON(fc, {pane: 'yz-boundaries', interactive: false,
                                     style: {color: '#37474f', weight: 1.4, opacity: 0.9, fill: true, fillColor: '#ffffff', fillOpacity: 0.35}});
      layers.boundaries.addLayer(boundaryLayer);
      labelLayer = L.layerGroup();
      (fc.features || []).forEach(function (f) {
        var b = L.geoJSON(f).getBounds();
        if (!b.isValid()) return;
        var label = YZ.el('span', {text: (f.properties || {}).name || ''});
        labelLayer.addLayer(L.marker(b.getCenter(), {pane: 'yz-labels', interactive: false, keyboard: false,
          icon: L.divIcon({className: 'yz-area-label', html: label, iconSize: null})}));
      });
      layers.boundaries.addLayer(labelLayer);
      errors.boundaries = null;
      return fc;
    }).catch(function (e) { errors.boundaries = YZ.errorText(e); }).then(function (fc) {
      pending.boundaries = false; publish(); return fc;
    });
  }
  function zoomToArea(city, district) {
    return getBoundaries(city).then(function (fc) {
      if (highlight) { layers.boundaries.removeLayer(highlight); highlight = null; }
      var feats = (fc.features || []).filter(function (f) { return !district || (f.properties || {}).adcode === district; });
      if (!feats.length) return;
      var layer = L.geoJSON({type: 'FeatureCollection', features: feats});
      if (district) {
        highlight = L.geoJSON({type: 'FeatureCollection', features: feats},
                              {pane: 'yz-zones', interactive: false, style: {color: '#0d47a1', weight: 3, fill: false}});
        layers.boundaries.addLayer(highlight);
      }
      map.fitBounds(layer.getBounds(), {padding: [10, 10]});
    }).catch(function (e) { errors.boundaries = YZ.errorText(e); publish(); });
  }

  function dclassStyle(f) {
    var c = (cfg.dclasses || [])[(f.properties || {}).dclass] || {color: '#9e9e9e'};
    return {fillColor: c.color, fillOpacity: 0.62, color: c.color, weight: 0.6, opacity: 0.9};
  }
  function loadCells() {
    var p = Object.assign(coverageParams(), {res: 9, bbox: bbox(), zoom: map.getZoom(), out_crs: outCrs()});
    return load('hexagons', '/api/coverage/cells?' + YZ.query(p), function (fc) {
      layers.cells.clearLayers();
      var g = L.geoJSON(fc, {pane: 'yz-cells', style: dclassStyle, onEachFeature: function (f, layer) {
        layer.bindPopup(function () { return cellPopup(f.properties || {}); });
      }});
      layers.cells.addLayer(g);
      counts.hexagons = (fc.features || []).length;
      if (fc.lod) box.setAttribute('data-res', String(fc.lod.res));
    });
  }
  function loadBlank() {
    var p = Object.assign(coverageParams(), {res: 9, bbox: bbox(), zoom: map.getZoom(), limit: BLANK_LIMIT, out_crs: outCrs()});
    return load('blank', '/api/coverage/blank-spots?' + YZ.query(p), function (fc) {
      layers.blank.clearLayers();
      var g = L.geoJSON(fc, {pointToLayer: function (f, latlng) {
        return L.circleMarker(latlng, {pane: 'yz-blank', radius: 6, color: '#ffffff', weight: 1.5, fillColor: '#6a1b9a', fillOpacity: 0.95});
      }, onEachFeature: function (f, layer) {
        var p = f.properties || {};
        layer.bindPopup(function () { return blankPopup(p); });
        layer.bindTooltip(YZ.textTip('空白点 #' + p.rank + ' / blank spot'), {direction: 'top'});
      }});
      layers.blank.addLayer(g);
      counts.blank = (fc.features || []).length;
    });
  }
  function loadZones() {
    var p = Object.assign(coverageParams(), {res: 9, bbox: bbox(), zoom: map.getZoom(), out_crs: outCrs()});
    return load('zones', '/api/coverage/blind-zones?' + YZ.query(p), function (fc) {
      layers.zones.clearLayers();
      var g = L.geoJSON(fc, {pane: 'yz-zones', style: {color: '#b71c1c', weight: 2, dashArray: '6 4', fillColor: '#b71c1c', fillOpacity: 0.06},
        onEachFeature: function (f, layer) { layer.bindPopup(function () { return zonePopup(f.properties || {}); }); }});
      layers.zones.addLayer(g);
      counts.zones = (fc.features || []).length;
    });
  }
  function loadStations() {
    var f = filters();
    if (controllers.stations) controllers.stations.abort();
    var ctl = controllers.stations = new AbortController();
    pending.stations = true; errors.stations = null; publish();
    return YZ.loadStations(layers.stations, {type: f.type, group: f.group}, {signal: ctl.signal}).then(function (n) {
      counts.stations = n;
    }).catch(function (e) { if (!e || e.name !== 'AbortError') errors.stations = YZ.errorText(e); })
      .then(function () { if (controllers.stations === ctl) { pending.stations = false; publish(); } });
  }

  // -- summary table and downloads ----------------------------------------------------------------------
  var summaryRows = [];
  function renderSummary() {
    var tbody = document.querySelector('#summary tbody');
    YZ.clear(tbody);
    var f = filters(), prefix = f.city ? f.city.slice(0, 4) : '';
    var rows = summaryRows.filter(function (r) {
      var code = String(r.adcode || '');
      if (!prefix) return r.level === 'city' || r.level === 'total' || r.level === 'province';
      return (r.level === 'district' && code.slice(0, 4) === prefix) || code === f.city;
    });
    rows.sort(function (a, b) {
      var order = {district: 0, city: 1, province: 2, total: 3};
      return (order[a.level] || 0) - (order[b.level] || 0) || String(a.adcode).localeCompare(String(b.adcode));
    });
    if (!rows.length) {
      tbody.appendChild(YZ.el('tr', {}, [YZ.el('td', {cls: 'muted', text: '没有数据 / no data', attrs: {colspan: 7}})]));
      return;
    }
    rows.forEach(function (r) {
      var isDistrict = r.level === 'district';
      var tr = YZ.el('tr', {cls: (isDistrict ? '' : 'total ') + (r.adcode === f.district ? 'table-active' : ''),
                            attrs: {'data-adcode': r.adcode, tabindex: isDistrict ? 0 : null}}, [
        YZ.el('th', {text: r.name || r.adcode || '合计', attrs: {scope: 'row'}}),
        YZ.el('td', {cls: 'num', text: r.n_stations === undefined ? '—' : r.n_stations}),
        YZ.el('td', {cls: 'num', text: YZ.fmtNumber(r.demand)}),
        YZ.el('td', {cls: 'num ' + shareClass(r.covered_share), text: YZ.fmtPercent(r.covered_share)}),
        YZ.el('td', {cls: 'num', text: YZ.fmtDistance(r.mean_distance_m)}),
        YZ.el('td', {cls: 'num', text: r.n_blank_spots === undefined ? '—' : r.n_blank_spots}),
        YZ.el('td', {cls: 'num', text: r.n_blind_zones === undefined ? '—' : r.n_blind_zones})]);
      if (isDistrict) {
        var pick = function () {
          var cityCode = String(r.adcode).slice(0, 4) + '00';
          if (form.elements.city.value !== cityCode) { form.elements.city.value = cityCode; fillDistricts(cityCode); }
          form.elements.district.value = r.adcode;
          form.elements.district.dispatchEvent(new Event('change', {bubbles: true}));
        };
        tr.addEventListener('click', pick);
        tr.addEventListener('keydown', function (e) { if (e.key === 'Enter') pick(); });
      }
      tbody.appendChild(tr);
    });
  }
  function shareClass(x) {
    if (x === null || x === undefined || !isFinite(x)) return '';
    return x >= 0.9 ? 'share-good' : x >= 0.6 ? 'share-mid' : 'share-bad';
  }
  function loadSummary() {
    return load('summary', '/api/coverage/summary?' + YZ.query(coverageParams()), function (data) {
      summaryRows = (data && data.rows) || [];
      document.getElementById('total-share').textContent = YZ.fmtPercent(data && data.covered_share);
      renderSummary();
    });
  }
  function updateDownloads() {
    var p = coverageParams();
    document.querySelectorAll('#downloads a[data-what]').forEach(function (a) {
      a.setAttribute('href', '/api/coverage/download?' + YZ.query(Object.assign({what: a.getAttribute('data-what'),
                                                                                 format: a.getAttribute('data-format')}, p)));
    });
  }
  function updateThreshold() {
    var g = filters().group, t = (cfg.thresholds || {})[g] || cfg.default_threshold || 1000;
    document.querySelectorAll('[data-threshold]').forEach(function (e) {
      e.textContent = '阈值 ' + YZ.fmtDistance(t) + ' / threshold ' + YZ.fmtDistanceEn(t);
    });
  }

  // -- wiring -----------------------------------------------------------------------------------------
  function reloadView() { loadCells(); loadBlank(); loadZones(); }
  var timer = null;
  // the view is 'loading' from the start of a move until its layers are in (tests wait for 'ready')
  // While a popup is open the layers are kept (a popup's auto-pan would otherwise reload the layer that
  // holds it and close it); the view is reloaded when the popup closes.
  var popupOpen = false, stale = false;
  map.on('popupopen', function () { popupOpen = true; });
  map.on('popupclose', function () {
    popupOpen = false;
    // another popup may be opening right now (Leaflet closes the old one first): decide after it did
    setTimeout(function () { if (stale && !popupOpen) { stale = false; reloadView(); } }, 0);
  });
  map.on('movestart', function () { if (!popupOpen) { pending.view = true; publish(); } });
  map.on('moveend', function () {
    clearTimeout(timer);
    if (popupOpen) { stale = true; pending.view = false; publish(); return; }
    timer = setTimeout(function () { reloadView(); pending.view = false; publish(); }, 300);
  });
  form.addEventListener('submit', function (e) { e.preventDefault(); });
  form.addEventListener('change', function (e) {
    var name = e.target && e.target.name;
    if (name === 'city') {
      fillDistricts(form.elements.city.value);
      drawBoundaries(form.elements.city.value);
      zoomToArea(form.elements.city.value, '');
      renderSummary();
      return;  // moveend reloads the view
    }
    if (name === 'district') {
      zoomToArea(form.elements.city.value, form.elements.district.value);
      renderSummary();
      return;
    }
    if (name === 'type' || name === 'group') loadStations();
    if (name === 'type') return;
    updateThreshold();
    updateDownloads();
    loadSummary();
    reloadView();
  });

  fillDistricts(form.elements.city.value);
  updateThreshold();
  updateDownloads();
  drawBoundaries(form.elements.city.value);
  loadStations();
  loadSummary();
  reloadView();
  window.YIZHAN_PLANNER = {reload: reloadView, counts: counts};
})();
