// Proposals page (/proposals): pick a site (map click or a suggestion from /api/siting), see its impact
// (/api/impact), submit (POST /api/proposals with the X-CSRF-Token from /api/me); the list of proposals
// with status; planners/admins accept or reject with a comment and turn accepted proposals into stations.
(function () {
  'use strict';
  var YZ = window.YZ, cfg = YZ.config, area = cfg.area || {};
  var form = document.getElementById('proposal-form');
  var impactBox = document.getElementById('impact');
  var formMsg = document.getElementById('form-msg');
  var listMsg = document.getElementById('list-msg');
  var siteLine = document.getElementById('site-line');
  var submitBtn = document.getElementById('submit-btn');
  var groupSel = document.getElementById('p-group');
  var hourSel = document.getElementById('p-hour');
  var statusFilter = document.getElementById('status-filter');
  var tbody = document.querySelector('#proposal-table tbody');
  var site = null, siteMarker = null, districtFeature = null, impactCtl = null;
  var names = cfg.district_names || {};

  function msg(el, text, kind) {
    el.textContent = text || '';
    el.classList.toggle('is-error', kind === 'error');
    el.classList.toggle('is-ok', kind === 'ok');
  }
  var datasetSel = document.getElementById('p-dataset');
  function params() {
    return {group: groupSel.value, hour: hourSel.value, metric: 'great-circle', dataset: datasetSel ? datasetSel.value : ''};
  }

  // -- map --------------------------------------------------------------------------------------------
  var map = L.map('pick-map', {preferCanvas: true});
  window.YIZHAN_PROPOSALS_MAP = map;   // for tests and debugging
  YZ.addTiles(map);
  map.attributionControl.setPrefix('Leaflet');
  var start = YZ.boundsToMap(cfg.bounds);
  if (start) map.fitBounds(start); else map.setView([23.13, 113.32], 10);
  var stationsLayer = L.layerGroup().addTo(map);
  var candidateLayer = L.layerGroup().addTo(map);
  var proposalLayer = L.layerGroup().addTo(map);
  var outCrs = YZ.displayCrs === 'gcj02' ? 'gcj02' : '';

  function ringContains(ring, x, y) {
    var inside = false;
    for (var i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      var xi = ring[i][0], yi = ring[i][1], xj = ring[j][0], yj = ring[j][1];
      if ((yi > y) !== (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi) inside = !inside;
    }
    return inside;
  }
  // point (display CRS) in a GeoJSON Polygon/MultiPolygon feature
  function featureContains(f, latlng) {
    if (!f || !f.geometry) return null;
    var polys = f.geometry.type === 'Polygon' ? [f.geometry.coordinates] : f.geometry.type === 'MultiPolygon' ? f.geometry.coordinates : [];
    return polys.some(function (rings) {
      if (!ringContains(rings[0], latlng.lng, latlng.lat)) return false;
      return !rings.slice(1).some(function (hole) { return ringContains(hole, latlng.lng, latlng.lat); });
    });
  }

  // the districts around: the union's city, a scoped planner's area, else the maps' default area
  var boundariesReady = YZ.getJSON('/api/boundaries?' + YZ.query({level: 'district', parent: area.city || cfg.city || '', out_crs: outCrs})).then(function (fc) {
    L.geoJSON(fc, {interactive: false, style: function (f) {
      var own = area.adcode && (f.properties || {}).adcode === area.adcode;
      return own ? {color: '#0d47a1', weight: 3, fillColor: '#ffffff', fillOpacity: 0.75}
                 : {color: '#78909c', weight: 1, fillColor: '#ffffff', fillOpacity: area.adcode ? 0.25 : 0.55};
    }}).addTo(map).bringToBack();
    (fc.features || []).forEach(function (f) {
      var p = f.properties || {};
      if (p.adcode && p.name) names[p.adcode] = p.name;
      if (area.adcode && p.adcode === area.adcode) districtFeature = f;
      L.marker(L.geoJSON(f).getBounds().getCenter(), {interactive: false, keyboard: false,
        icon: L.divIcon({className: 'yz-area-label', html: YZ.el('span', {text: p.name || ''}), iconSize: null})}).addTo(map);
    });
    if (districtFeature) map.fitBounds(L.geoJSON(districtFeature).getBounds(), {padding: [8, 8]});
    map.getContainer().setAttribute('data-boundaries', '1');
  }).catch(function (e) { msg(formMsg, YZ.errorText(e), 'error'); });

  YZ.getJSON('/api/stations?' + YZ.query({adcode: area.adcode || '', out_crs: outCrs})).then(function (fc) {
    (fc.features || []).forEach(function (f) {
      var c = f.geometry && f.geometry.coordinates, p = f.properties || {};
      if (!c) return;
      L.circleMarker([c[1], c[0]], {radius: 4, weight: 1, color: '#fff', fillColor: YZ.stationStyle(p.type).hex, fillOpacity: 0.9})
        .bindTooltip(YZ.textTip((p.name || '') + ' · ' + (p.type || ''))).addTo(stationsLayer);
    });
  }).catch(function () {});

  // -- site and impact ----------------------------------------------------------------------------------
  function setSite(s) {
    site = s;
    var ll = s.crs === 'wgs84' ? YZ.toMap(s.lon, s.lat) : L.latLng(s.lat, s.lon);
    if (siteMarker) siteMarker.setLatLng(ll);
    else {
      siteMarker = L.marker(ll, {draggable: true, title: '建议位置 / proposed site', zIndexOffset: 1000}).addTo(map);
      siteMarker.on('dragend', function () {
        var p = siteMarker.getLatLng();
        setSite({lon: p.lng, lat: p.lat, crs: YZ.displayCrs, source: '地图 / map'});
      });
    }
    var inside = districtFeature ? featureContains(districtFeature, ll) : null;
    var crsLabel = {wgs84: 'WGS-84', gcj02: 'GCJ-02', bd09: 'BD-09'}[s.crs] || s.crs;
    siteLine.textContent = '位置 / site: ' + s.lon.toFixed(5) + ', ' + s.lat.toFixed(5) + '（' + crsLabel + '，' + s.source + '）';
    if (inside === false) {
      msg(formMsg, '该位置不在本区（' + (area.name || area.adcode) + '）内，区工会只能为本区提交 / this site is outside your district', 'error');
    } else {
      msg(formMsg, '');
    }
    submitBtn.disabled = inside === false;
    if (s.name && !form.elements.name.value) form.elements.name.value = s.name;
    loadImpact();
  }
  map.on('click', function (e) { setSite({lon: e.latlng.lng, lat: e.latlng.lat, crs: YZ.displayCrs, source: '地图 / map'}); });

  function districtsText(list) {
    return (list || []).map(function (d) {
      if (typeof d === 'string') return names[d] || d;
      return (d.name || names[d.adcode] || d.adcode || '') + (d.new_demand !== undefined ? ' +' + YZ.fmtNumber(d.new_demand) : '');
    }).join('、');
  }
  function renderImpact(r) {
    YZ.clear(impactBox);
    var before = r.share_before, after = r.share_after;
    var delta = isFinite(after - before) ? ' (+' + ((after - before) * 100).toFixed(2) + ' 个百分点 / points)' : '';
    var rows = [
      ['新增覆盖需求', 'newly covered demand', YZ.fmtNumber(r.new_demand) + (isFinite(r.new_share) ? '（占总需求 ' + YZ.fmtPercent(r.new_share) + '）' : '')],
      ['覆盖率', 'covered share', YZ.fmtPercent(before) + ' → ' + YZ.fmtPercent(after) + delta],
      ['消除空白点', 'blank spots removed', r.blank_spots_removed],
      ['涉及盲区', 'blind zones touched', r.blind_zones_touched],
      ['消除盲区', 'blind zones removed', r.blind_zones_removed],
      ['受益区县', 'districts', districtsText(r.districts)]];
    var dl = YZ.el('dl', {attrs: {'data-new-demand': r.new_demand}});
    rows.forEach(function (row) {
      if (row[2] === undefined || row[2] === null || row[2] === '') return;
      dl.appendChild(YZ.el('dt', {}, [row[0], YZ.el('small', {text: row[1]})]));
      dl.appendChild(YZ.el('dd', {text: String(row[2])}));
    });
    impactBox.appendChild(dl);
  }
  function loadImpact() {
    if (!site) return;
    if (impactCtl) impactCtl.abort();
    impactCtl = new AbortController();
    YZ.clear(impactBox).appendChild(YZ.el('p', {cls: 'muted', text: '正在计算覆盖效果… / computing the impact…'}));
    impactBox.removeAttribute('data-ready');
    var q = Object.assign({lon: site.lon.toFixed(6), lat: site.lat.toFixed(6), crs: site.crs}, params());
    YZ.getJSON('/api/impact?' + YZ.query(q), {signal: impactCtl.signal}).then(function (r) {
      renderImpact(r || {});
      impactBox.setAttribute('data-ready', '1');
    }).catch(function (e) {
      var t = YZ.errorText(e);
      if (t) YZ.clear(impactBox).appendChild(YZ.el('p', {cls: 'form-msg is-error', text: t}));
    });
  }

  // -- suggestions --------------------------------------------------------------------------------------
  function loadCandidates() {
    var list = document.getElementById('candidates');
    YZ.clear(list).appendChild(YZ.el('li', {cls: 'muted small', text: '加载中… / loading…'}));
    candidateLayer.clearLayers();
    // /api/siting plans for the whole area: a district union gets the best sites inside its district
    // from a longer list
    var q = {k: area.adcode ? 60 : 10, objective: 'mclp', solver: 'greedy', group: groupSel.value, metric: 'great-circle',
             dataset: datasetSel ? datasetSel.value : ''};
    boundariesReady.then(function () { return YZ.getJSON('/api/siting?' + YZ.query(q)); }).then(function (r) {
      var sites = (r && r.sites) || [];
      if (districtFeature) sites = sites.filter(function (s) { return featureContains(districtFeature, YZ.toMap(s.lon, s.lat)); });
      sites = sites.slice(0, 10);
      YZ.clear(list);
      if (!sites.length) {
        list.appendChild(YZ.el('li', {cls: 'muted small', text: '本区暂无推荐位置，请在地图上点选 / no suggestion here: click the map'}));
        return;
      }
      sites.forEach(function (s, i) {
        // candidates at uncovered cell centres are named after their H3 cell: not a useful station name
        if (s.name && /^网格\s|^[0-9a-f]{15}$/.test(s.name)) s = Object.assign({}, s, {name: ''});
        var label = '推荐 ' + (i + 1) + (s.name ? ' ' + s.name : '');
        var btn = YZ.el('button', {cls: 'btn btn-sm btn-outline-primary', attrs: {type: 'button', 'data-rank': s.rank || i + 1,
                                                                                  title: '全部推荐中第 ' + (s.rank || i + 1) + ' 位 / overall rank'}},
                        [label, YZ.el('small', {cls: 'd-block', text: '+' + YZ.fmtNumber(s.gain) + ' 需求 / demand'})]);
        btn.addEventListener('click', function () {
          setSite({lon: s.lon, lat: s.lat, crs: 'wgs84', source: '推荐 ' + (i + 1) + ' / suggestion', name: s.name});
          map.panTo(YZ.toMap(s.lon, s.lat));
        });
        list.appendChild(YZ.el('li', {}, [btn]));
        var icon = L.divIcon({className: 'yz-candidate', html: YZ.el('span', {text: String(i + 1)}), iconSize: [24, 24]});
        L.marker(YZ.toMap(s.lon, s.lat), {icon: icon, title: label, keyboard: false}).on('click', function () { btn.click(); }).addTo(candidateLayer);
      });
    }).catch(function (e) {
      YZ.clear(list).appendChild(YZ.el('li', {cls: 'form-msg is-error', text: YZ.errorText(e)}));
    });
  }

  // -- submit -------------------------------------------------------------------------------------------
  form.addEventListener('submit', function (e) {
    e.preventDefault();
    if (!site) { msg(formMsg, '请先选择位置 / choose a site first', 'error'); return; }
    var services = Array.prototype.map.call(form.querySelectorAll('input[name="services"]:checked'), function (b) { return b.value; });
    var body = {lon: site.lon, lat: site.lat, crs: site.crs, name: form.elements.name.value.trim(), type: form.elements.type.value,
                host: form.elements.host.value.trim(), services: services, reason: form.elements.reason.value.trim(),
                group: groupSel.value};
    if (!body.name) { msg(formMsg, '请填写站点名称 / enter a name', 'error'); form.elements.name.focus(); return; }
    submitBtn.disabled = true;
    msg(formMsg, '正在提交… / submitting…');
    YZ.postJSON('/api/proposals', body).then(function (p) {
      msg(formMsg, '已提交选址建议 #' + p.id + '（' + p.status + '）/ proposal submitted', 'ok');
      form.elements.name.value = '';
      form.elements.reason.value = '';
      return reloadList();
    }).catch(function (err) {
      msg(formMsg, YZ.errorText(err), 'error');
    }).then(function () { submitBtn.disabled = !site; });
  });

  // -- list and review ------------------------------------------------------------------------------------
  var STATUS_EN = {'待审核': 'pending', '已采纳': 'accepted', '已驳回': 'rejected'};
  var STATUS_COLOR = {'待审核': '#f9a825', '已采纳': '#2e7d32', '已驳回': '#757575'};
  function act(url, body, done) {
    msg(listMsg, '正在处理… / working…');
    return YZ.postJSON(url, body).then(function (r) {
      msg(listMsg, done(r), 'ok');
      return reloadList(true);
    }).catch(function (e) { msg(listMsg, YZ.errorText(e), 'error'); });
  }
  function reviewCell(p) {
    var td = YZ.el('td');
    if (p.review_comment) td.appendChild(YZ.el('span', {cls: 'small d-block', text: p.review_comment}));
    if (!cfg.reviewer) return td;
    if (p.status === '待审核') {
      var input = YZ.el('input', {cls: 'form-control form-control-sm', attrs: {type: 'text', maxlength: 2000, placeholder: '审核意见 / comment',
                                                                              'aria-label': '审核意见 / comment'}});
      var ok = YZ.el('button', {cls: 'btn btn-sm btn-success act-accept', attrs: {type: 'button'}}, ['采纳', YZ.el('small', {text: ' accept'})]);
      var no = YZ.el('button', {cls: 'btn btn-sm btn-outline-secondary act-reject', attrs: {type: 'button'}}, ['驳回', YZ.el('small', {text: ' reject'})]);
      ok.addEventListener('click', function () {
        act('/api/proposals/' + encodeURIComponent(p.id) + '/review', {accept: true, comment: input.value},
            function () { return '已采纳 #' + p.id + ' / accepted'; });
      });
      no.addEventListener('click', function () {
        if (!input.value.trim()) { msg(listMsg, '驳回请填写意见 / please give a reason for rejecting', 'error'); input.focus(); return; }
        act('/api/proposals/' + encodeURIComponent(p.id) + '/review', {accept: false, comment: input.value},
            function () { return '已驳回 #' + p.id + ' / rejected'; });
      });
      td.appendChild(YZ.el('div', {cls: 'review-box'}, [input, ok, no]));
    } else if (p.status === '已采纳' && !p.station_id) {
      var build = YZ.el('button', {cls: 'btn btn-sm btn-primary act-build', attrs: {type: 'button'}}, ['建为站点（筹建中）', YZ.el('small', {text: ' create station'})]);
      build.addEventListener('click', function () {
        act('/api/proposals/' + encodeURIComponent(p.id) + '/build', {},
            function (s) { return '已建站 ' + ((s && (s.id || (s.station && s.station.id))) || '') + ' / station created'; });
      });
      td.appendChild(build);
    }
    return td;
  }
  function row(p) {
    var impact = p.impact || {};
    var tr = YZ.el('tr', {attrs: {'data-id': p.id, 'data-status': p.status}}, [
      YZ.el('td', {text: '#' + p.id}),
      YZ.el('td', {cls: 'p-name'}, [p.name || '', p.host ? YZ.el('small', {cls: 'd-block muted', text: p.host}) : null]),
      YZ.el('td', {text: p.type || ''}),
      YZ.el('td', {text: names[p.adcode] || p.adcode || ''}),
      YZ.el('td', {cls: 'num', text: impact.new_demand === undefined || impact.new_demand === null ? '—' : YZ.fmtNumber(impact.new_demand)}),
      YZ.el('td', {}, [p.submitted_by || '', YZ.el('small', {cls: 'd-block muted', text: String(p.submitted_at || '').slice(0, 16).replace('T', ' ')})]),
      YZ.el('td', {}, [YZ.el('span', {cls: 'badge status-badge status-' + p.status}, [p.status || '', YZ.el('small', {cls: 'd-block', text: STATUS_EN[p.status] || ''})]),
                       p.station_id ? YZ.el('small', {cls: 'd-block', text: '站点 ' + p.station_id}) : null]),
      reviewCell(p)]);
    return tr;
  }
  function drawProposals(list) {
    proposalLayer.clearLayers();
    list.forEach(function (p) {
      if (!isFinite(p.lon) || !isFinite(p.lat)) return;
      L.circleMarker(YZ.toMap(p.lon, p.lat), {radius: 7, weight: 2, color: '#263238', dashArray: '3 2',
                                               fillColor: STATUS_COLOR[p.status] || '#999', fillOpacity: 0.9})
        .bindTooltip(YZ.textTip('#' + p.id + ' ' + (p.name || '') + '（' + p.status + '）')).addTo(proposalLayer);
    });
  }
  function reloadList(keepMsg) {
    if (!keepMsg) msg(listMsg, '');
    return YZ.getJSON('/api/proposals?' + YZ.query({status: statusFilter.value})).then(function (data) {
      var list = Array.isArray(data) ? data : ((data && (data.proposals || data.items)) || []);
      YZ.clear(tbody);
      if (!list.length) tbody.appendChild(YZ.el('tr', {cls: 'empty'}, [YZ.el('td', {cls: 'muted', text: '还没有选址建议 / no proposals yet', attrs: {colspan: 8}})]));
      list.forEach(function (p) { tbody.appendChild(row(p)); });
      tbody.setAttribute('data-loaded', String(list.length));
      drawProposals(list);
    }).catch(function (e) { msg(listMsg, YZ.errorText(e), 'error'); });
  }

  groupSel.addEventListener('change', function () { loadCandidates(); loadImpact(); });
  hourSel.addEventListener('change', loadImpact);
  YZ.datasetSelect(datasetSel, function () { loadCandidates(); loadImpact(); });
  statusFilter.addEventListener('change', function () { reloadList(); });
  YZ.csrf();
  loadCandidates();
  reloadList();
})();
