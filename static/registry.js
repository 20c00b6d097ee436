// Registry page (/registry, planners and admins): the station list (GET /api/stations, filtered here),
// add/edit/delete one station (POST/PATCH/DELETE /api/stations...), import a file (POST
// /api/stations/import, "check only" = dry run) and the change history with undo (GET /api/history,
// POST /api/history/<id>/undo, POST /api/history/batches/<batch>/undo).  Everything from the server
// goes into the page as text (YZ.el), never as HTML.
// Stations waiting for a location (status 待定位, no coordinates): their own panel lists them with a
// count per district and a small map; picking one shows the geocoder's candidate (dashed marker) to
// accept or reject, or a click on the map sets a draggable marker (or coordinates are typed in a chosen
// datum) and "save location" places it (PATCH with If-Match; map clicks are sent in the tiles' datum).
// Concurrent edits: the form keeps the ETag (version) of the station it loaded and sends it as
// If-Match when saving or deleting; when someone else changed the station meanwhile the server
// answers 412 with the station as it is now: the form shows those values, names the fields that
// changed and asks to check and save again (nothing of ours was written).
(function () {
  'use strict';
  var YZ = window.YZ, cfg = YZ.config, names = cfg.area_names || {};
  var el = YZ.el;
  var ACTIONS = {create: '新增 / create', update: '修改 / update', delete: '删除 / delete', undo: '撤销 / undo'};
  var FIELD_NAMES = {name: '名称', type: '类型', groups: '服务对象', address: '地址', adcode: '区县', host: '依托单位',
                     services: '服务内容', hours: '开放时间', capacity: '座位数', phone: '电话', status: '状态',
                     source: '来源', updated_at: '更新时间', lon: '经度', lat: '纬度', orig_lon: '原始经度',
                     orig_lat: '原始纬度', orig_crs: '原始坐标系', id: '编号', precision: '定位精度',
                     located_status: '定位后状态', candidate: '候选位置'};
  // the fields a change list shows first (a placement: status and location before the rest)
  var FIRST = ['status', 'name', 'lon', 'lat', 'precision', 'candidate', 'located_status', 'adcode'];
  var WAITING = '待定位', PRECISION = cfg.precision_names || {};
  var stations = [], editing = null, editingEtag = null, nextBefore = null;
  var $ = function (id) { return document.getElementById(id); };
  var form = $('station-form'), importForm = $('import-form');

  function msg(node, text, kind) {
    node.textContent = text || '';
    node.classList.toggle('is-error', kind === 'error');
    node.classList.toggle('is-ok', kind === 'ok');
  }
  function showProblems(list, e, withRows) {
    YZ.clear(list);
    (e && e.problems || []).forEach(function (p) {
      var where = [withRows && p.row !== null && p.row !== undefined ? '第 ' + p.row + ' 行' : '', p.column ? (withRows ? '列 ' : '字段 ') + p.column : '']
        .filter(Boolean).join('，');
      list.appendChild(el('li', {}, [where ? el('strong', {text: where + '：'}) : null, p.zh + ' / ' + p.en,
        p.value ? el('code', {text: ' ' + p.value}) : null]));
    });
    if (e && e.problemCount > (e.problems || []).length) {
      list.appendChild(el('li', {cls: 'muted', text: '……共 ' + e.problemCount + ' 个问题 / ' + e.problemCount + ' problems in all'}));
    }
  }

  // -- stations ---------------------------------------------------------------------------------------
  function loadStations() {
    return YZ.getJSON('/api/stations?' + YZ.query({adcode: cfg.user_adcode || ''})).then(function (fc) {
      stations = (fc.features || []).map(function (f) { return f.properties || {}; });
      renderStations();
      drawLocated(fc);
    }).catch(function (e) { msg($('st-msg'), YZ.errorText(e), 'error'); }).then(function () {
      return loadWaiting();                     // every change that reloads the list may place one, or add one
    });
  }
  function renderStations() {
    var q = $('st-search').value.trim().toLowerCase();
    var tbody = YZ.clear(document.querySelector('#station-table tbody'));
    var hits = stations.filter(function (s) {
      return !q || [s.id, s.name, s.address].some(function (v) { return String(v || '').toLowerCase().indexOf(q) >= 0; });
    });
    hits.slice(0, 200).forEach(function (s) {
      var btn = el('button', {cls: 'btn btn-sm btn-outline-primary', text: '编辑', attrs: {type: 'button', 'data-id': s.id, 'aria-label': '编辑 / edit ' + s.name}});
      btn.addEventListener('click', function () { edit(s.id); });
      tbody.appendChild(el('tr', {attrs: {'data-id': s.id}}, [
        el('td', {text: s.id}), el('td', {cls: 's-name', text: s.name}), el('td', {text: s.type}),
        el('td', {text: names[s.adcode] || s.adcode || '—'}), el('td', {text: s.status}), el('td', {}, [btn])]));
    });
    if (!hits.length) tbody.appendChild(el('tr', {cls: 'empty'}, [el('td', {cls: 'muted', text: '没有站点 / no stations', attrs: {colspan: 6}})]));
    msg($('st-msg'), hits.length > 200 ? '显示前 200 个（共 ' + hits.length + ' 个），请输入关键词缩小范围 / showing 200 of ' + hits.length
      : '共 ' + hits.length + ' 个站点 / ' + hits.length + ' stations');
  }
  $('st-search').addEventListener('input', renderStations);

  function fill(rec) {
    ['id', 'name', 'type', 'status', 'address', 'host', 'hours', 'groups', 'services', 'phone'].forEach(function (k) {
      form.elements[k].value = Array.isArray(rec[k]) ? rec[k].join('、') : (rec[k] === null || rec[k] === undefined ? '' : rec[k]);
    });
    form.elements.capacity.value = rec.capacity === null || rec.capacity === undefined ? '' : rec.capacity;
    form.elements.lon.value = rec.lon === undefined || rec.lon === null ? '' : rec.lon;
    form.elements.lat.value = rec.lat === undefined || rec.lat === null ? '' : rec.lat;
    // a station waiting for a location may be edited without coordinates (placing it: its own panel)
    var unlocated = !!(rec.id && rec.status === WAITING && (rec.lon === null || rec.lon === undefined));
    form.elements.lon.required = form.elements.lat.required = !unlocated;
    form.elements.crs.value = 'wgs84';
    form.elements.note.value = '';
  }
  function openForm(rec, title, etag) {
    editing = rec && rec.id ? rec : null;
    editingEtag = editing ? (etag || null) : null;
    form.hidden = false;
    fill(rec || {type: form.elements.type.options[0].value, status: '在运营'});
    form.elements.id.readOnly = !!editing;
    $('st-delete').hidden = !editing;
    $('edit-sub').textContent = title;
    msg($('form-msg'), '');
    YZ.clear($('form-problems'));
    form.elements.name.focus();
  }
  function edit(id) {
    YZ.requestJSON('GET', '/api/stations/' + encodeURIComponent(id)).then(function (r) {
      openForm(r.data, '编辑 ' + r.data.id + ' / editing ' + r.data.id, r.etag);
    }).catch(function (e) { msg($('st-msg'), YZ.errorText(e), 'error'); });
  }
  // 412: someone else changed the station after we loaded it.  Show its current values (our
  // unsaved input is replaced), name the fields that changed, and keep its new version.
  function showConflict(e) {
    var before = editing || {}, now = e.current;
    var changed = Object.keys(FIELD_NAMES).filter(function (k) {
      return k !== 'updated_at' && String(before[k] === null || before[k] === undefined ? '' : before[k]) !==
        String(now[k] === null || now[k] === undefined ? '' : now[k]);
    });
    openForm(now, '编辑 ' + now.id + ' / editing ' + now.id, '"' + e.version + '"');
    msg($('form-msg'), '保存失败：该站点已被他人修改，表单已换成最新内容，请核对后重新修改并保存。 / Not saved: someone else ' +
      'changed this station meanwhile; the form now shows its current values — check them and make your change again.', 'error');
    var list = $('form-problems');
    list.appendChild(el('li', {attrs: {'data-conflict': '1'}}, [el('strong', {text: '他人改动的字段 / changed by someone else：'}),
      changed.length ? changed.map(function (k) { return FIELD_NAMES[k] + ' (' + k + ')'; }).join('、') : '—']));
    list.scrollIntoView({block: 'nearest'});
    return Promise.all([loadStations(), loadHistory(true)]);
  }
  $('st-new').addEventListener('click', function () { openForm(null, '新增站点 / new station'); });
  $('st-cancel').addEventListener('click', function () { form.hidden = true; editing = null; $('edit-sub').textContent = ''; });

  function formBody() {
    var f = form.elements, body = {};
    ['name', 'type', 'status', 'address', 'host', 'hours', 'groups', 'services', 'phone', 'crs', 'note'].forEach(function (k) { body[k] = f[k].value.trim(); });
    if (!editing && f.id.value.trim()) body.id = f.id.value.trim();
    var cap = f.capacity.value.trim();
    body.capacity = cap === '' ? null : (/^\d+$/.test(cap) ? parseInt(cap, 10) : NaN);
    body.lon = parseFloat(f.lon.value); body.lat = parseFloat(f.lat.value);
    if (editing && body.crs === 'wgs84' && body.lon === editing.lon && body.lat === editing.lat) { delete body.lon; delete body.lat; }
    if (editing && (editing.lon === null || editing.lon === undefined) && !f.lon.value.trim() && !f.lat.value.trim()) {
      delete body.lon; delete body.lat;          // still waiting for a location
    }
    return body;
  }
  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    var body = formBody();
    if (Number.isNaN(body.capacity)) { msg($('form-msg'), '座位数应为整数 / seats must be a whole number', 'error'); return; }
    if (('lon' in body) && (!isFinite(body.lon) || !isFinite(body.lat))) { msg($('form-msg'), '请填写经纬度数字 / enter lon and lat as numbers', 'error'); return; }
    var req = editing ? YZ.requestJSON('PATCH', '/api/stations/' + encodeURIComponent(editing.id), body, {'If-Match': editingEtag})
      : YZ.requestJSON('POST', '/api/stations', body);
    $('st-save').disabled = true;
    YZ.clear($('form-problems'));
    req.then(function (r) {
      var rec = r.data;
      msg($('form-msg'), '已保存 ' + rec.id + ' / saved', 'ok');
      editing = rec; editingEtag = r.etag;
      form.elements.id.value = rec.id; form.elements.id.readOnly = true; $('st-delete').hidden = false;
      return Promise.all([loadStations(), loadHistory(true)]);
    }).catch(function (e) {
      if (e && e.status === 412 && e.current) return showConflict(e);
      msg($('form-msg'), YZ.errorText(e), 'error');
      showProblems($('form-problems'), e, false);
    }).then(function () { $('st-save').disabled = false; });
  });
  $('st-delete').addEventListener('click', function () {
    if (!editing || !window.confirm('删除站点“' + editing.name + '”？可在变更记录中撤销。\nDelete this station? You can undo it from the history.')) return;
    YZ.clear($('form-problems'));
    YZ.requestJSON('DELETE', '/api/stations/' + encodeURIComponent(editing.id), {note: form.elements.note.value.trim()},
                   {'If-Match': editingEtag}).then(function (res) {
      var r = res.data;
      msg($('st-msg'), '已删除 ' + r.deleted + '（记录 #' + r.history_id + '）/ deleted', 'ok');
      form.hidden = true; editing = null; editingEtag = null;
      return Promise.all([loadStations(), loadHistory(true)]);
    }).catch(function (e) {
      if (e && e.status === 412 && e.current) return showConflict(e);
      msg($('form-msg'), YZ.errorText(e), 'error');
    });
  });

  // -- import -----------------------------------------------------------------------------------------
  function runImport(dry) {
    var file = $('import-file').files[0];
    if (!file) { msg($('import-msg'), '请选择文件 / choose a file', 'error'); return; }
    var data = new FormData(importForm);
    if (dry) data.set('dry_run', '1');
    if (!importForm.elements.skip_bad_rows.checked) data.delete('skip_bad_rows');
    msg($('import-msg'), dry ? '检查中… / checking…' : '导入中… / importing…');
    YZ.clear($('import-problems'));
    YZ.upload('/api/stations/import', data).then(function (r) {
      var line = dry ? '检查通过：' + r.valid + ' 行有效，将新增 ' + r.created + ' 个站点 / check passed: ' + r.valid + ' valid rows, ' + r.created + ' new'
        : '已导入：新增 ' + r.created + '，更新 ' + r.updated + '，未变 ' + r.unchanged + ' / imported (batch ' + r.batch + ')';
      if (r.skipped_rows && r.skipped_rows.length) line += '；跳过 ' + r.skipped_rows.length + ' 行 / skipped ' + r.skipped_rows.length + ' rows';
      msg($('import-msg'), line, 'ok');
      showProblems($('import-problems'), {problems: r.skipped, problemCount: (r.skipped || []).length}, true);
      (r.warnings || []).forEach(function (w) { $('import-problems').appendChild(el('li', {cls: 'muted', text: w})); });
      if (!dry) return Promise.all([loadStations(), loadHistory(true)]);
    }).catch(function (e) {
      msg($('import-msg'), YZ.errorText(e), 'error');
      showProblems($('import-problems'), e, true);
    });
  }
  $('import-check').addEventListener('click', function () { runImport(true); });
  importForm.addEventListener('submit', function (ev) { ev.preventDefault(); runImport(false); });

  // -- history ----------------------------------------------------------------------------------------
  function fmtValue(v, field) {
    if (v === null || v === undefined || v === '') return '（空）';
    if (field === 'candidate') {
      var c = parseCandidate(v);
      if (c) return (PRECISION[c.precision] || c.precision || '') + ' ' + (c.label || '');
    }
    if (field === 'precision') return (PRECISION[v] || v) + ' (' + v + ')';
    return typeof v === 'number' ? String(Math.round(v * 1e6) / 1e6) : String(v);
  }
  function fieldRank(f) { var i = FIRST.indexOf(f); return i < 0 ? FIRST.length : i; }
  function changeList(entry) {
    var ul = el('ul', {cls: 'changes'});
    if (entry.action === 'create' || (entry.action === 'undo' && !entry.before)) {
      ul.appendChild(el('li', {text: '新增站点 / created'}));
    } else if (!entry.after) {
      ul.appendChild(el('li', {text: '删除站点 / deleted'}));
    } else {
      entry.changes.filter(function (c) { return c.field !== 'updated_at'; }).sort(function (a, b) {
        return fieldRank(a.field) - fieldRank(b.field);
      }).slice(0, 6).forEach(function (c) {
        ul.appendChild(el('li', {attrs: {'data-field': c.field}}, [el('span', {cls: 'muted', text: (FIELD_NAMES[c.field] || c.field) + '：'}),
          el('del', {text: fmtValue(c.before, c.field)}), ' → ', el('ins', {text: fmtValue(c.after, c.field)})]));
      });
    }
    return ul;
  }
  function undo(entry, force, batch) {
    var url = batch ? '/api/history/batches/' + encodeURIComponent(entry.batch) + '/undo' : '/api/history/' + entry.id + '/undo';
    var what = batch ? '整批导入（' + entry.batch.slice(0, 8) + '…）/ the whole import' : '#' + entry.id + '（' + (entry.name || entry.station_id) + '）';
    if (!force && !window.confirm('撤销 ' + what + '？\nUndo this change?')) return;
    YZ.postJSON(url, force ? {force: true} : {}).then(function (r) {
      msg($('hist-msg'), batch ? '已撤销整批 ' + r.undone + ' 项变更 / undone ' + r.undone + ' changes' : '已撤销 #' + r.undone + ' / undone', 'ok');
      return Promise.all([loadStations(), loadHistory(true)]);
    }).catch(function (e) {
      if (e.status === 409 && !force) {
        msg($('hist-msg'), YZ.errorText(e), 'error');
        if (window.confirm(e.zh + '\n' + e.en + '\n\n仍要强制撤销（覆盖较新的变更）？\nForce the undo (overwrite the later change)?')) undo(entry, true, batch);
        return;
      }
      msg($('hist-msg'), YZ.errorText(e), 'error');
    });
  }
  function historyRow(h) {
    var cell = el('td', {cls: 'undo-cell'});
    if (h.undone_by) {
      cell.appendChild(el('span', {cls: 'muted small', text: '已撤销（#' + h.undone_by + '）/ undone'}));
    } else {
      var b = el('button', {cls: 'btn btn-sm btn-outline-danger', text: '撤销', attrs: {type: 'button', 'data-undo': h.id, 'aria-label': '撤销 / undo #' + h.id}});
      b.addEventListener('click', function () { undo(h, false, false); });
      cell.appendChild(b);
    }
    if (h.batch && h.action !== 'undo') {
      var bb = el('button', {cls: 'btn btn-sm btn-link', text: '撤销整批', attrs: {type: 'button', 'data-undo-batch': h.batch, title: '撤销这次导入的全部变更 / undo the whole import'}});
      bb.addEventListener('click', function () { undo(h, false, true); });
      cell.appendChild(bb);
    }
    var when = (h.at || '').replace('T', ' ').slice(0, 19);
    try { when = new Date(h.at).toLocaleString('zh-CN', {hour12: false}); } catch (err) { /* keep ISO */ }
    return el('tr', {attrs: {'data-id': h.id, 'data-action': h.action}}, [
      el('td', {text: '#' + h.id}), el('td', {cls: 'small', text: when}), el('td', {text: h.user || '—'}),
      el('td', {}, [el('span', {cls: 'badge action-' + h.action, text: ACTIONS[h.action] || h.action})]),
      el('td', {}, [el('span', {cls: 'h-name', text: h.name || ''}), el('small', {cls: 'd-block muted', text: h.station_id})]),
      el('td', {}, [changeList(h)]), el('td', {cls: 'small', text: h.note || ''}), cell]);
  }
  function loadHistory(reset) {
    var tbody = document.querySelector('#history-table tbody');
    var q = {station_id: $('h-station').value.trim(), user: $('h-user').value.trim(), action: $('h-action').value, limit: 50};
    if (!reset && nextBefore) q.before_id = nextBefore;
    // the rows shown are about to be replaced: their undo buttons may name older entries
    if (reset) Array.prototype.forEach.call(tbody.querySelectorAll('button'), function (b) { b.disabled = true; });
    return YZ.getJSON('/api/history?' + YZ.query(q)).then(function (r) {
      if (reset) YZ.clear(tbody);
      r.entries.forEach(function (h) { tbody.appendChild(historyRow(h)); });
      if (reset && !r.entries.length) tbody.appendChild(el('tr', {cls: 'empty'}, [el('td', {cls: 'muted', text: '没有变更记录 / no changes', attrs: {colspan: 8}})]));
      nextBefore = r.next_before_id;
      $('h-more').hidden = !nextBefore;
      document.body.setAttribute('data-history-loaded', '1');
    }).catch(function (e) {
      msg($('hist-msg'), YZ.errorText(e), 'error');
      Array.prototype.forEach.call(tbody.querySelectorAll('button'), function (b) { b.disabled = false; });
    });
  }
  ['h-station', 'h-user'].forEach(function (id) {
    var t = null;
    $(id).addEventListener('input', function () { clearTimeout(t); t = setTimeout(function () { loadHistory(true); }, 300); });
  });
  $('h-action').addEventListener('change', function () { loadHistory(true); });
  $('h-more').addEventListener('click', function () { loadHistory(false); });

  // -- stations waiting for a location ------------------------------------------------------------------
  var waitForm = $('wait-form'), waiting = [], picked = null, pickedEtag = null, pickedCandidate = null;
  var placeMarker = null, candMarker = null, districtBounds = {};
  var waitMap = L.map('wait-map', {zoomControl: true, preferCanvas: true});
  window.YIZHAN_WAITING_MAP = waitMap;          // for tests and debugging
  YZ.addTiles(waitMap);
  waitMap.attributionControl.setPrefix('Leaflet');
  var startView = YZ.boundsToMap(cfg.bounds);
  if (startView) waitMap.fitBounds(startView); else waitMap.setView([23.13, 113.32], 10);
  // district outlines and names give orientation (also without a base map)
  YZ.getJSON('/api/boundaries?' + YZ.query({level: 'district', parent: cfg.city || '',
                                            out_crs: YZ.displayCrs === 'gcj02' ? 'gcj02' : ''})).then(function (fc) {
    L.geoJSON(fc, {interactive: false, style: {color: '#546e7a', weight: 1, fillColor: '#ffffff', fillOpacity: 0.45}})
      .addTo(waitMap).bringToBack();
    (fc.features || []).forEach(function (f) {
      var p = f.properties || {}, b = L.geoJSON(f).getBounds();
      if (p.adcode) districtBounds[p.adcode] = b;
      if (p.adcode && p.name && !names[p.adcode]) names[p.adcode] = p.name;
      L.marker(b.getCenter(), {interactive: false, keyboard: false,
        icon: L.divIcon({className: 'yz-area-label', html: el('span', {text: p.name || ''}), iconSize: null})}).addTo(waitMap);
    });
    waitMap.getContainer().setAttribute('data-boundaries', '1');
  }).catch(function () {});

  // the stations located already, for orientation (and not to place one twice)
  var locatedLayer = L.layerGroup().addTo(waitMap);
  function drawLocated(fc) {
    locatedLayer.clearLayers();
    (fc.features || []).forEach(function (f) {
      var c = f.geometry && f.geometry.coordinates, p = f.properties || {};
      if (!c) return;
      L.circleMarker(YZ.toMap(c[0], c[1]), {radius: 4, weight: 1, color: '#ffffff', fillColor: YZ.stationStyle(p.type).hex,
                                            fillOpacity: 0.9}).bindTooltip(YZ.textTip((p.name || '') + ' · ' + (p.status || '')))
        .addTo(locatedLayer);
    });
  }
  function districtName(code) { return code ? (names[code] || code) : '未知区县 / unknown'; }
  // a candidate: the object of the station list, or the JSON text of the registry record
  function parseCandidate(c) {
    if (typeof c === 'string') {
      if (!c) return null;
      try { c = JSON.parse(c); } catch (err) { return null; }
    }
    return c && typeof c === 'object' && !Array.isArray(c) ? c : null;
  }
  function hasPoint(c) { return !!c && typeof c.lon === 'number' && typeof c.lat === 'number' && isFinite(c.lon) && isFinite(c.lat); }
  function precisionText(p) { return p ? (PRECISION[p] || p) + ' (' + p + ')' : '—'; }

  function loadWaiting() {
    // every waiting station the user may place: those of its area, and those of no known district
    return YZ.getJSON('/api/stations?' + YZ.query({status: WAITING})).then(function (fc) {
      var scope = cfg.scope || '';
      waiting = (fc.features || []).map(function (f) { return f.properties || {}; }).filter(function (s) {
        return !s.adcode || String(s.adcode).indexOf(scope) === 0;
      });
      renderWaiting();
      if (picked && !waiting.some(function (s) { return s.id === picked.id; })) unpick();
      document.body.setAttribute('data-waiting-loaded', String(waiting.length));
    }).catch(function (e) { msg($('wait-msg'), YZ.errorText(e), 'error'); });
  }
  function renderWaiting() {
    var counts = {};
    waiting.forEach(function (s) { counts[s.adcode || ''] = (counts[s.adcode || ''] || 0) + 1; });
    var ul = YZ.clear($('wait-counts'));
    Object.keys(counts).sort(function (a, b) { return (a === '') - (b === '') || (a < b ? -1 : a > b ? 1 : 0); }).forEach(function (code) {
      ul.appendChild(el('li', {attrs: {'data-adcode': code}}, [districtName(code) + ' ', el('strong', {text: String(counts[code])})]));
    });
    var tbody = YZ.clear(document.querySelector('#waiting-table tbody'));
    waiting.forEach(function (s) {
      var c = parseCandidate(s.candidate);
      var btn = el('button', {cls: 'btn btn-link btn-sm p-0 text-start', text: s.name || s.id,
                              attrs: {type: 'button', 'aria-label': '选择 / pick ' + (s.name || s.id)}});
      var tr = el('tr', {cls: picked && picked.id === s.id ? 'is-selected' : '', attrs: {'data-id': s.id}}, [
        el('td', {cls: 's-name'}, [btn]), el('td', {cls: 'small', text: s.address || '—'}),
        el('td', {text: districtName(s.adcode || '')}),
        el('td', {cls: 'small', text: c ? (PRECISION[c.precision] || c.precision || '?') : '—'})]);
      tr.addEventListener('click', function () { pick(s.id); });
      tbody.appendChild(tr);
    });
    if (!waiting.length) tbody.appendChild(el('tr', {cls: 'empty'}, [el('td', {cls: 'muted', text: '没有待定位的站点 / no station is waiting', attrs: {colspan: 4}})]));
    $('wait-print').hidden = !waiting.length;
  }

  function clearMarkers() {
    if (placeMarker) { waitMap.removeLayer(placeMarker); placeMarker = null; }
    if (candMarker) { waitMap.removeLayer(candMarker); candMarker = null; }
  }
  function unpick() {
    picked = null; pickedEtag = null; pickedCandidate = null;
    clearMarkers();
    waitForm.hidden = true;
    $('wait-candidate').hidden = true;
    YZ.clear($('wait-selected')).appendChild(YZ.bi('span', '请在列表中选择一个站点。', 'Pick a station in the list.'));
    waitMap.getContainer().removeAttribute('data-picked');
    Array.prototype.forEach.call(document.querySelectorAll('#waiting-table tr.is-selected'), function (tr) { tr.classList.remove('is-selected'); });
  }
  // Load one waiting station (and its version, sent back as If-Match) and show it.
  function pick(id, keepMessage) {
    return YZ.requestJSON('GET', '/api/stations/' + encodeURIComponent(id)).then(function (r) {
      var s = r.data;
      if (!keepMessage) { msg($('wait-msg'), ''); YZ.clear($('wait-problems')); }
      if (s.status !== WAITING) {
        msg($('wait-msg'), '该站点已定位（' + s.status + '）/ this station has a location already', 'error');
        unpick();
        return loadWaiting();
      }
      clearMarkers();
      picked = s; pickedEtag = r.etag; pickedCandidate = parseCandidate(s.candidate);
      Array.prototype.forEach.call(document.querySelectorAll('#waiting-table tbody tr'), function (tr) {
        tr.classList.toggle('is-selected', tr.getAttribute('data-id') === s.id);
      });
      YZ.clear($('wait-selected')).appendChild(el('span', {}, [el('strong', {cls: 'w-name', text: s.name}), ' · ',
        el('span', {text: s.address || '（无地址 / no address）'}), ' · ', el('span', {text: districtName(s.adcode || '')}),
        el('small', {cls: 'd-block muted', text: s.id + ' · ' + s.type + ' · 定位后状态 / status once located: ' + (s.located_status || '在运营')})]));
      var box = $('wait-candidate'), c = pickedCandidate;
      box.hidden = !c;
      if (c) {
        $('wait-cand-precision').textContent = precisionText(c.precision);
        $('wait-cand-label').textContent = [c.label, c.provider ? '（' + c.provider + '）' : ''].filter(Boolean).join(' ');
        $('wait-cand-coords').textContent = hasPoint(c) ? 'WGS-84 ' + c.lon.toFixed(6) + ', ' + c.lat.toFixed(6) : '';
        var districtOnly = c.precision === 'district' || !hasPoint(c);
        $('wait-accept').disabled = districtOnly;
        $('wait-accept').title = districtOnly ? '只精确到行政区，请在地图上标注 / district only: place it on the map' : '';
        if (hasPoint(c)) {
          candMarker = L.circleMarker(YZ.toMap(c.lon, c.lat), {radius: 11, color: '#ef6c00', weight: 3, dashArray: '5 4',
                                                               fillColor: '#ffcc80', fillOpacity: 0.35}).addTo(waitMap);
          candMarker.bindTooltip(YZ.textTip('候选 / candidate: ' + precisionText(c.precision) + (c.label ? ' · ' + c.label : '')));
        }
      }
      waitForm.hidden = false;
      waitForm.elements.lon.value = ''; waitForm.elements.lat.value = '';
      waitForm.elements.crs.value = YZ.displayCrs; waitForm.elements.note.value = '';
      $('wait-save').disabled = true;
      waitMap.invalidateSize();                 // the panel's layout changed since the map was made
      // no animation: the view is set when the station shows (a click right after lands where aimed)
      if (candMarker) waitMap.setView(candMarker.getLatLng(), Math.max(waitMap.getZoom(), 15), {animate: false});
      else if (districtBounds[s.adcode]) waitMap.fitBounds(districtBounds[s.adcode], {animate: false});
      waitMap.getContainer().setAttribute('data-picked', s.id);
    }).catch(function (e) { msg($('wait-msg'), YZ.errorText(e), 'error'); });
  }

  // the marker of the location to save: a map click (in the tiles' datum) or typed coordinates
  function setPlace(latlng) {
    if (!placeMarker) {
      placeMarker = L.marker(latlng, {draggable: true, title: '站点位置（可拖动）/ station location (drag to adjust)', zIndexOffset: 1000}).addTo(waitMap);
      placeMarker.on('dragend', function () { fillCoords(placeMarker.getLatLng()); });
    } else {
      placeMarker.setLatLng(latlng);
    }
  }
  function fillCoords(latlng) {
    waitForm.elements.lon.value = latlng.lng.toFixed(7);
    waitForm.elements.lat.value = latlng.lat.toFixed(7);
    waitForm.elements.crs.value = YZ.displayCrs;        // map points are in the base map's system
    $('wait-save').disabled = false;
  }
  waitMap.on('click', function (e) {
    if (!picked) { msg($('wait-msg'), '请先在列表中选择站点 / pick a station in the list first', 'error'); return; }
    setPlace(e.latlng);
    fillCoords(e.latlng);
  });
  function typedPoint() {
    var lon = parseFloat(waitForm.elements.lon.value), lat = parseFloat(waitForm.elements.lat.value);
    return isFinite(lon) && isFinite(lat) && Math.abs(lon) <= 180 && Math.abs(lat) <= 90 ? {lon: lon, lat: lat} : null;
  }
  ['lon', 'lat', 'crs'].forEach(function (name) {
    waitForm.elements[name].addEventListener(name === 'crs' ? 'change' : 'input', function () {
      var p = typedPoint();
      $('wait-save').disabled = !p || !picked;
      if (p && picked) setPlace(YZ.pointToMap(p.lon, p.lat, waitForm.elements.crs.value));
    });
  });

  function sendPlacing(body, okZh, okEn) {
    if (!picked) return Promise.resolve();
    var id = picked.id, buttons = [$('wait-save'), $('wait-accept'), $('wait-reject')];
    buttons.forEach(function (b) { b.disabled = true; });
    YZ.clear($('wait-problems'));
    return YZ.requestJSON('PATCH', '/api/stations/' + encodeURIComponent(id), body, {'If-Match': pickedEtag}).then(function (r) {
      var s = r.data;
      msg($('wait-msg'), okZh + '：' + s.name + '（' + s.status + '）/ ' + okEn, 'ok');
      if (s.status === WAITING) { picked = s; pickedEtag = r.etag; } else unpick();
      return Promise.all([loadStations(), loadHistory(true)]).then(function () {
        if (picked) return pick(picked.id, true);
      });
    }).catch(function (e) {
      if (e && e.status === 412) {
        msg($('wait-msg'), '未保存：该站点已被他人修改，已载入最新内容，请核对后重试。 / Not saved: someone else changed this station; ' +
          'it is shown as it is now — check and try again.', 'error');
        return Promise.all([loadStations(), loadHistory(true)]).then(function () { return pick(id, true); });
      }
      msg($('wait-msg'), YZ.errorText(e), 'error');
      showProblems($('wait-problems'), e, false);
    }).then(function () {
      $('wait-save').disabled = !typedPoint() || !picked;
      $('wait-reject').disabled = false;
      $('wait-accept').disabled = !pickedCandidate || pickedCandidate.precision === 'district' || !hasPoint(pickedCandidate);
    });
  }
  waitForm.addEventListener('submit', function (ev) {
    ev.preventDefault();
    var p = typedPoint();
    if (!p) { msg($('wait-msg'), '请在地图上点选位置或填写经纬度数字 / click the map or enter lon and lat as numbers', 'error'); return; }
    sendPlacing({lon: p.lon, lat: p.lat, crs: waitForm.elements.crs.value, note: waitForm.elements.note.value.trim()},
                '已保存位置', 'location saved');
  });
  $('wait-accept').addEventListener('click', function () {
    sendPlacing({accept_candidate: true, note: waitForm.elements.note.value.trim()}, '已接受候选位置', 'candidate accepted');
  });
  $('wait-reject').addEventListener('click', function () {
    sendPlacing({candidate: null, note: waitForm.elements.note.value.trim()}, '已拒绝候选位置', 'candidate rejected');
  });

  loadStations();
  loadHistory(true);
  YZ.csrf();
})();
