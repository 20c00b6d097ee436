// Planner map (/): fills the folium skeleton (window.YIZHAN_MAP) from the JSON API for the current view.
// Layers: district boundaries, H3 hexagons coloured by distance class, clustered stations, blank spots,
// blind-zone outlines, and (when the server has a highway file) the gaps between stations along the
// numbered highways (/api/corridors), coloured by length.  Reloads on moveend (debounced) and on filter
// change; the summary table and the download links follow the filters.  Counts of loaded features are
// published as data-* attributes on #planner-map (data-hexagons, data-stations, data-blank, data-zones,
// data-corridors, data-state) for tests.
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
  [['yz-boundaries', 350], ['yz-cells', 360], ['yz-zones', 390], ['yz-labels', 395], ['yz-corridors', 400],
   ['yz-blank', 420]].forEach(function (p) {
    map.createPane(p[0]).style.zIndex = p[1];
  });
  map.getPane('yz-labels').style.pointerEvents = 'none';
  if (map.attributionControl) map.attributionControl.setPrefix('Leaflet');

  var counts = {stations: null, hexagons: null, blank: null, zones: null, corridors: null};
  var stationNames = YZ.stationNames;  // id -> name of every station loaded (for popups)
  var errors = {};

  // -- filters: province -> city -> district, for every province ----------------------------------------
  // Provinces and cities come with the page (cfg.areas: names only); the districts of a city from the
  // boundaries the map draws for it.  areaNames: adcode -> Chinese name of every area seen (popups).
  var areas = cfg.areas || {provinces: [], cities: []}, areaNames = {};
  areas.provinces.forEach(function (p) { areaNames[p[0]] = p[1]; });
  areas.cities.forEach(function (c) { areaNames[c[0]] = c[1]; });
  Array.prototype.slice.call(form.elements.district.options, 1).forEach(function (o) { areaNames[o.value] = o.textContent; });
  function provinceOf(code) { return code ? String(code).slice(0, 2) + '0000' : ''; }
  // prefix shared by every district of a city (4401, 50 for 重庆市 500100, 429004 for 仙桃市)
  function cityPrefix(city) {
    var c = areas.cities.filter(function (x) { return x[0] === city; })[0];
    return c ? c[2] : String(city || '');
  }
  function fillCities(province) {
    var sel = form.elements.city;
    while (sel.options.length > 1) sel.remove(1);
    areas.cities.forEach(function (c) {
      if (province && provinceOf(c[0]) === province) sel.appendChild(YZ.el('option', {text: c[1], attrs: {value: c[0]}}));
    });
    sel.value = '';
    sel.disabled = !province;
  }
  var districtsReady = Promise.resolve();
  function fillDistricts(city) {
    var sel = form.elements.district, keep = sel.value;
    if (!city) {
      while (sel.options.length > 1) sel.remove(1);
      sel.disabled = true;
      districtsReady = Promise.resolve();
      return districtsReady;
    }
    sel.disabled = false;
    Array.prototype.slice.call(sel.options, 1).forEach(function (o) {    // another city's districts go at once
      if (o.getAttribute('data-city') !== city) sel.removeChild(o);
    });
    districtsReady = getBoundaries('district', city).then(function (fc) {
      if (form.elements.city.value !== city) return;      // another city was chosen meanwhile
      keep = sel.value || keep;
      while (sel.options.length > 1) sel.remove(1);
      (fc.features || []).map(function (f) { return f.properties || {}; }).sort(function (a, b) {
        return String(a.adcode).localeCompare(String(b.adcode));
      }).forEach(function (p) {
        areaNames[p.adcode] = p.name;
        sel.appendChild(YZ.el('option', {text: p.name || p.adcode, attrs: {value: p.adcode, 'data-city': city}}));
      });
      sel.value = keep;
      if (sel.value !== keep) sel.value = '';
    }).catch(function (e) { errors.boundaries = YZ.errorText(e); publish(); });
    return districtsReady;
  }
  function filters() {
    var f = form.elements;
    return {province: f.province.value, city: f.city.value, district: f.district.value, group: f.group.value,
            type: f.type.value, hour: f.hour.value, metric: f.metric.value};
  }
  function coverageParams() {
    var f = filters(), ds = form.elements.dataset;
    return {metric: f.metric, group: f.group, hour: f.hour, dataset: ds ? ds.value : ''};
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
     ['zones', '盲区', 'blind zones'], ['corridors', '走廊空白', 'corridor gaps']].forEach(function (k) {
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
  // names of district adcodes (the server's names when given, else those seen, else the code)
  function districtNames(list, known) {
    if (typeof list === 'string') list = list.split(/[、,;\s]+/);
    return (list || []).filter(Boolean).map(function (code, i) {
      return (known && known[i]) || areaNames[String(code)] || String(code);
    }).join('、');
  }
  function zonePopup(p) {
    return YZ.el('div', {cls: 'yz-popup'}, [
      YZ.el('h3', {text: '盲区 #' + p.zone}, [YZ.el('small', {text: ' blind zone'})]),
      dl([['网格数', 'cells', p.n_cells],
          ['需求', 'demand', YZ.fmtNumber(p.demand)],
          ['面积', 'area', p.area_km2 !== undefined && p.area_km2 !== null ? Number(p.area_km2).toFixed(2) + ' km²' : ''],
          ['涉及区县', 'districts', districtNames(p.districts, Array.isArray(p.district_names) ? p.district_names : null)]])]);
  }

  // -- layers -----------------------------------------------------------------------------------------
  var boundaryCache = {}, boundaryLayer = null, labelLayer = null, highlight = null;
  // districts of a city, cities of a province (only the chosen area's outlines are fetched)
  function getBoundaries(level, parent) {
    var key = level + ':' + parent;
    if (!boundaryCache[key]) {
      boundaryCache[key] = YZ.getJSON('/api/boundaries?' + YZ.query({level: level, parent: parent, out_crs: outCrs()}))
        .catch(function (e) { delete boundaryCache[key]; throw e; });
    }
    return boundaryCache[key];
  }
  // the outlines of the chosen area: its districts (a city) or its cities (a province); none for all China
  function areaBoundaries() {
    var f = filters();
    if (f.city) return getBoundaries('district', f.city);
    if (f.province) return getBoundaries('city', f.province);
    return Promise.resolve({type: 'FeatureCollection', features: []});
  }
  function drawBoundaries() {
    var f = filters();
    pending.boundaries = true; publish();
    return areaBoundaries().then(function (fc) {
      var now = filters();
      if (now.city !== f.city || now.province !== f.province) return fc;   // a newer choice draws its own
      layers.boundaries.clearLayers();
      highlight = null;
      boundaryLayer = L.geoJSON(fc, {pane: 'yz-boundaries', interactive: false,
                                     style: {color: '#37474f', weight: 1.4, opacity: 0.9, fill: true, fillColor: '#ffffff', fillOpacity: 0.35}});
      layers.boundaries.addLayer(boundaryLayer);
      labelLayer = L.layerGroup();
      (fc.features || []).forEach(function (feat) {
        var p = feat.properties || {};
        if (p.adcode && p.name) areaNames[p.adcode] = p.name;
        var b = L.geoJSON(feat).getBounds();
        if (!b.isValid()) return;
        var label = YZ.el('span', {text: p.name || ''});
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
  // fit the map to the chosen district, city or province (nothing for all China)
  function zoomToArea() {
    var f = filters();
    return areaBoundaries().then(function (fc) {
      if (highlight) { layers.boundaries.removeLayer(highlight); highlight = null; }
      var district = f.city ? f.district : '';
      var feats = (fc.features || []).filter(function (feat) { return !district || (feat.properties || {}).adcode === district; });
      if (!feats.length) return;
      var layer = L.geoJSON({type: 'FeatureCollection', features: feats});
      if (district) {
        highlight = L.geoJSON({type: 'FeatureCollection', features: feats},
                              {pane: 'yz-zones', interactive: false, style: {color: '#0d47a1', weight: 3, fill: false}});
        layers.boundaries.addLayer(highlight);
      }
      // keep the area clear of an open legend (bottom right) when the map is wide enough to afford it
      var legend = map.getContainer().querySelector('.yz-legend');
      var side = legend && legend.open && map.getSize().x > 2.5 * legend.offsetWidth ? legend.offsetWidth + 20 : 10;
      map.fitBounds(layer.getBounds(), {paddingTopLeft: [10, 10], paddingBottomRight: [side, 10]});
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
  // highway corridor gaps: the whole file at once (not per view), for the chosen group or truck drivers
  var corridorClasses = cfg.corridor_classes || [];
  function corridorClass(km) {
    for (var i = 0; i < corridorClasses.length; i++) {
      var c = corridorClasses[i];
      if (c.max === null || c.max === undefined || km < c.max) return c;
    }
    return {color: '#7f0000'};
  }
  function fmtKm(km) { return km === null || km === undefined ? '' : Number(km).toFixed(1) + ' 公里 / km'; }
  var DIRECTIONS = {forward: '正向 / forward', backward: '反向 / backward', both: '双向 / both ways'};
  function corridorPopup(p) {
    var title = String(p.ref || '') + (p.name ? ' ' + p.name : '');
    return YZ.el('div', {cls: 'yz-popup'}, [
      YZ.el('h3', {text: title}, [YZ.el('small', {text: ' 走廊空白 / corridor gap'})]),
      dl([['空白长度', 'gap length', fmtKm(p.length_km)],
          ['起止里程', 'from – to', p.from_km === undefined ? '' : Number(p.from_km).toFixed(1) + ' – ' +
                                                              Number(p.to_km).toFixed(1) + ' 公里 / km'],
          ['方向', 'direction', (DIRECTIONS[p.direction] || String(p.direction || '')) +
                                '，第 ' + p.piece + ' 段 / piece ' + p.piece],
          ['起点站点', 'from station', nearestName(p.from_station) || '路段起点 / start of the road'],
          ['终点站点', 'to station', nearestName(p.to_station) || '路段终点 / end of the road'],
          ['超过最大间隔', 'over the maximum', p.over_max ? '是 / yes' : '否 / no']])]);
  }
  function loadCorridors() {
    if (!layers.corridors) return Promise.resolve();      // no highway file configured: no layer
    var p = {group: filters().group || '货车司机', out_crs: outCrs()};
    if (controllers.corridors) controllers.corridors.abort();
    var ctl = controllers.corridors = new AbortController();
    pending.corridors = true; errors.corridors = null; publish();
    return YZ.getJSON('/api/corridors?' + YZ.query(p), {signal: ctl.signal}).then(function (data) {
      if (ctl.signal.aborted) return;
      layers.corridors.clearLayers();
      var fc = (data && data.gaps) || {type: 'FeatureCollection', features: []};
      layers.corridors.addLayer(L.geoJSON(fc, {pane: 'yz-corridors', style: function (f) {
        return {color: corridorClass((f.properties || {}).length_km).color, weight: 5, opacity: 0.9, lineCap: 'round'};
      }, onEachFeature: function (f, layer) {
        var q = f.properties || {};
        layer.bindPopup(function () { return corridorPopup(q); });
        layer.bindTooltip(YZ.textTip(String(q.ref || '') + ' ' + fmtKm(q.length_km)), {sticky: true});
      }}));
      counts.corridors = (fc.features || []).length;
    }).catch(function (e) {
      if (e && e.name === 'AbortError') return;
      if (e && e.status === 404) { layers.corridors.clearLayers(); return; }   // the file went away: layer stays empty
      errors.corridors = YZ.errorText(e);
    }).then(function () {
      if (controllers.corridors === ctl) { pending.corridors = false; publish(); }
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
  // the rows of the area shown: a city: its districts and itself; a province: its cities and itself;
  // all China: the provinces (sorted: districts, cities, provinces, total)
  function areaRows(list) {
    var f = filters(), prefix = f.city ? cityPrefix(f.city) : '';
    var rows = (list || []).filter(function (r) {
      var code = String(r.adcode || '');
      if (prefix) return (r.level === 'district' && code.indexOf(prefix) === 0) || (r.level === 'city' && code === f.city);
      if (f.province) return (r.level === 'city' && provinceOf(code) === f.province) || (r.level === 'province' && code === f.province);
      return r.level === 'province' || r.level === 'total';
    });
    rows.sort(function (a, b) {
      var order = {district: 0, city: 1, province: 2, total: 3};
      return (order[a.level] || 0) - (order[b.level] || 0) || String(a.adcode).localeCompare(String(b.adcode));
    });
    return rows;
  }
  function renderSummary() {
    var tbody = document.querySelector('#summary tbody');
    YZ.clear(tbody);
    var f = filters(), rows = areaRows(summaryRows);
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
        // district rows are shown for the chosen city only: pick it once the city's list is in
        var pick = function () {
          districtsReady.then(function () {
            form.elements.district.value = r.adcode;
            form.elements.district.dispatchEvent(new Event('change', {bubbles: true}));
          });
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
    box.setAttribute('data-dataset', p.dataset || '');
    updateReport();
  }
  // "下载报告 / Download report" (logged-in users): the report of the area shown (district, else city,
  // else province) with the chosen dataset and worker group
  function updateReport() {
    var f = filters(), area = f.district || f.city || f.province, hint = document.getElementById('report-hint');
    document.querySelectorAll('#report-links a[data-format]').forEach(function (a) {
      if (!area) { a.removeAttribute('href'); a.setAttribute('aria-disabled', 'true'); return; }
      a.removeAttribute('aria-disabled');
      a.setAttribute('href', '/api/report?' + YZ.query({area: area, format: a.getAttribute('data-format'),
                                                       dataset: coverageParams().dataset, group: f.group}));
    });
    if (hint) hint.hidden = !!area;
    loadTargets();
  }
  function updateThreshold() {
    var g = filters().group, t = (cfg.thresholds || {})[g] || cfg.default_threshold || 1000;
    document.querySelectorAll('[data-threshold]').forEach(function (e) {
      e.textContent = '阈值 ' + YZ.fmtDistance(t) + ' / threshold ' + YZ.fmtDistanceEn(t);
    });
  }

  // -- change between datasets ("对比 / Compare with", logged-in users, >= 2 datasets) -----------------
  // The chosen dataset (now) against the one to compare with (then): the changed cells coloured by
  // change, the new blind zones outlined, and in the side panel the covered share then / now by area.
  var CHANGE_COLORS = {lost_coverage: '#d62728', new_uncovered_demand: '#ff7f0e', gained_coverage: '#2ca02c',
                       demand_gone: '#9ca3af'};
  var CHANGE_EN = {lost_coverage: 'lost coverage', new_uncovered_demand: 'new uncovered demand',
                   gained_coverage: 'gained coverage', demand_gone: 'demand gone'};
  map.createPane('yz-compare').style.zIndex = 385;
  var compareLayer = L.layerGroup().addTo(map), compareRows = [], compareHead = null;
  var compareSel = form.elements.compare, comparePanel = document.getElementById('compare-panel');
  function fillCompare(list) {
    if (!compareSel) return;
    var wrap = compareSel.closest('[data-compare-wrap]');
    list = list || [];
    while (compareSel.options.length > 1) compareSel.remove(1);
    list.forEach(function (d) { compareSel.appendChild(YZ.el('option', {text: d.name, attrs: {value: String(d.id)}})); });
    if (wrap) wrap.hidden = list.length < 2;
    syncCompareOptions();
  }
  function syncCompareOptions() {       // a dataset is not compared with itself
    if (!compareSel) return;
    var now = form.elements.dataset ? form.elements.dataset.value : '';
    Array.prototype.slice.call(compareSel.options, 1).forEach(function (o) { o.disabled = o.value === now; });
    if (compareSel.value && compareSel.value === now) compareSel.value = '';
  }
  function changePopup(p) {
    return YZ.el('div', {cls: 'yz-popup'}, [
      YZ.el('h3', {text: p.change_zh || ''}, [YZ.el('small', {text: ' ' + (CHANGE_EN[p.change] || '')})]),
      dl([['之前需求', 'demand then', YZ.fmtNumber(p.demand_before)],
          ['现在需求', 'demand now', YZ.fmtNumber(p.demand_after)],
          ['之前最近站点距离', 'distance then', YZ.fmtDistance(p.distance_m_before)],
          ['现在最近站点距离', 'distance now', YZ.fmtDistance(p.distance_m_after)],
          ['H3 网格', 'cell', p.h3 || '']])]);
  }
  function signedPp(x) {
    if (x === null || x === undefined || !isFinite(x)) return '—';
    return (x > 0 ? '+' : x < 0 ? '−' : '±') + Math.abs(x).toFixed(1) + ' 个百分点 / pp';
  }
  function renderCompare() {
    if (!comparePanel) return;
    var tbody = comparePanel.querySelector('tbody'), head = document.getElementById('compare-head');
    YZ.clear(tbody); YZ.clear(head);
    if (!compareHead) { comparePanel.hidden = true; return; }
    comparePanel.hidden = false;
    var h = compareHead;
    head.appendChild(document.createTextNode((h.before_name || '') + ' → ' + (h.after_name || '') + '：覆盖率 ' +
      YZ.fmtPercent(h.covered_share_before) + ' → ' + YZ.fmtPercent(h.covered_share_after) + '（' + signedPp(h.change_pp) +
      '）；新增未覆盖网格 ' + YZ.fmtNumber(h.n_became_uncovered) + '，新获覆盖 ' + YZ.fmtNumber(h.n_became_covered) +
      '，新增盲区 ' + YZ.fmtNumber(h.n_new_zones) + ' '));
    head.appendChild(YZ.el('small', {text: 'covered share then → now; cells that became uncovered / covered; new blind zones'}));
    var rows = areaRows(compareRows);
    if (!rows.length) {
      tbody.appendChild(YZ.el('tr', {}, [YZ.el('td', {cls: 'muted', text: '没有数据 / no data', attrs: {colspan: 4}})]));
      return;
    }
    rows.forEach(function (r) {
      var c = r.change_pp;
      tbody.appendChild(YZ.el('tr', {cls: r.level === 'district' ? '' : 'total', attrs: {'data-adcode': r.adcode}}, [
        YZ.el('th', {text: r.name || r.adcode || '合计', attrs: {scope: 'row'}}),
        YZ.el('td', {cls: 'num', text: YZ.fmtPercent(r.covered_share_before)}),
        YZ.el('td', {cls: 'num', text: YZ.fmtPercent(r.covered_share_after)}),
        YZ.el('td', {cls: 'num ' + (c < 0 ? 'change-down' : c > 0 ? 'change-up' : ''),
                     text: c === null || c === undefined || !isFinite(c) ? '—' : (c > 0 ? '+' : '') + c.toFixed(1) + ' pp'})]));
    });
  }
  function loadCompare() {
    syncCompareOptions();
    var before = compareSel ? compareSel.value : '', after = form.elements.dataset ? form.elements.dataset.value : '';
    if (!before || !after || before === after) {
      if (controllers.compare) controllers.compare.abort();
      compareLayer.clearLayers(); compareRows = []; compareHead = null;
      counts.compare = null; errors.compare = null; box.removeAttribute('data-compare'); renderCompare(); publish();
      return Promise.resolve();
    }
    var f = filters();
    var p = {before: before, after: after, metric: f.metric, group: f.group, hour: f.hour, res: 9, out_crs: outCrs()};
    return load('compare', '/api/coverage/compare?' + YZ.query(p), function (data) {
      compareLayer.clearLayers();
      compareLayer.addLayer(L.geoJSON(data.cells, {pane: 'yz-compare', style: function (feat) {
        var c = CHANGE_COLORS[(feat.properties || {}).change] || '#9ca3af';
        return {color: c, weight: 0.5, fillColor: c, fillOpacity: 0.6};
      }, onEachFeature: function (feat, layer) { layer.bindPopup(function () { return changePopup(feat.properties || {}); }); }}));
      compareLayer.addLayer(L.geoJSON(data.new_zones, {pane: 'yz-compare', interactive: false, style: function () {
        return {color: '#6a1b9a', weight: 2.5, dashArray: '6 4', fill: false};
      }}));
      compareRows = data.districts || [];
      compareHead = data.headline || null;
      counts.compare = ((data.cells || {}).features || []).length;
      box.setAttribute('data-compare', String(counts.compare));
      box.setAttribute('data-new-zones', String(((data.new_zones || {}).features || []).length));
      renderCompare();
    });
  }

  // -- "年度目标进度 / Annual targets" (logged-in users): the area shown, this year --------------------------
  var targetsPanel = document.getElementById('targets-panel'), targetsCtl = null;
  function targetRow(zh, en, doneText, progress) {
    var pct = progress === null || progress === undefined || !isFinite(progress) ? 0 : Math.round(progress * 100);
    var bar = YZ.el('div', {cls: 'progress-bar' + (pct >= 100 ? ' bg-success' : ''),
                            attrs: {role: 'progressbar', 'aria-valuenow': pct, 'aria-valuemin': 0, 'aria-valuemax': 100}});
    bar.style.width = pct + '%';
    return YZ.el('div', {cls: 'target-row'}, [
      YZ.el('div', {cls: 'target-label'}, [YZ.el('span', {}, [zh, YZ.el('small', {text: ' ' + en})]),
                                           YZ.el('span', {cls: 'num', text: doneText})]),
      YZ.el('div', {cls: 'progress', attrs: {'aria-label': zh}}, [bar])]);
  }
  function loadTargets() {
    if (!targetsPanel) return Promise.resolve();
    var f = filters(), area = f.district || f.city || f.province, holder = document.getElementById('targets');
    if (targetsCtl) targetsCtl.abort();
    if (!area) { targetsPanel.hidden = true; return Promise.resolve(); }
    var ctl = targetsCtl = new AbortController();
    var ds = form.elements.dataset ? form.elements.dataset.value : '';
    return YZ.getJSON('/api/targets?' + YZ.query({area: area, dataset: ds}), {signal: ctl.signal}).then(function (t) {
      if (targetsCtl !== ctl) return;
      YZ.clear(holder);
      document.getElementById('targets-year').textContent = t.year + ' 年 / ' + (t.name || t.area);
      (t.new_stations || []).forEach(function (r) {
        holder.appendChild(targetRow('新建' + r.type, 'new stations', r.done + ' / ' + r.target, r.progress));
      });
      (t.covered_share || []).forEach(function (r) {
        holder.appendChild(targetRow(r.group + '需求覆盖率', 'covered share',
                                     YZ.fmtPercent(r.current) + ' / ' + YZ.fmtPercent(r.target), r.progress));
      });
      if (!holder.firstChild) holder.appendChild(YZ.el('p', {cls: 'muted small', text: '未设置年度目标 / no annual targets set'}));
      targetsPanel.hidden = false;
      box.setAttribute('data-targets', String(holder.querySelectorAll('.target-row').length));
    }).catch(function (e) {
      if (e && e.name === 'AbortError') return;
      YZ.clear(holder);
      holder.appendChild(YZ.el('p', {cls: 'muted small', text: YZ.errorText(e)}));
      targetsPanel.hidden = false;
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
    if (name === 'province' || name === 'city') {
      if (name === 'province') fillCities(form.elements.province.value);
      form.elements.district.value = '';
      fillDistricts(form.elements.city.value);
      drawBoundaries();
      zoomToArea();
      renderSummary();
      renderCompare();
      updateReport();
      return;  // moveend reloads the view
    }
    if (name === 'district') {
      zoomToArea();
      renderSummary();
      renderCompare();
      updateReport();
      return;
    }
    if (name === 'compare') { loadCompare(); return; }
    if (name === 'type' || name === 'group') loadStations();
    if (name === 'group') loadCorridors();
    if (name === 'type') return;
    updateThreshold();
    updateDownloads();
    loadSummary();
    loadCompare();
    reloadView();
  });

  fillDistricts(form.elements.city.value);
  YZ.datasetSelect(form.elements.dataset, null).then(function (list) { fillCompare(list); updateDownloads(); });
  updateThreshold();
  updateDownloads();
  drawBoundaries();
  if (cfg.fit_area) zoomToArea();           // REGION set: open on that area rather than on the stations
  loadStations();
  loadSummary();
  reloadView();
  loadCorridors();
  window.YIZHAN_PLANNER = {reload: reloadView, counts: counts};
})();
