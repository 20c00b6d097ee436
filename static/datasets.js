// Hotspot datasets page (/datasets, planners and admins): upload a file (multipart POST /api/datasets with
// the X-CSRF-Token; the per-row validation report shown on 400), the list (GET /api/datasets) with rename
// (PATCH) and delete (DELETE).  Every text from the server goes in with textContent (YZ.el).
(function () {
  'use strict';
  var YZ = window.YZ;
  var form = document.getElementById('upload-form');
  var msgEl = document.getElementById('upload-msg');
  var listMsg = document.getElementById('list-msg');
  var problemsBox = document.getElementById('problems');
  var tbody = document.querySelector('#datasets-table tbody');

  function msg(el, text, kind) {
    el.textContent = text || '';
    el.classList.toggle('is-error', kind === 'error');
    el.classList.toggle('is-ok', kind === 'ok');
  }
  function fmtBytes(n) {
    if (!isFinite(n)) return '—';
    return n >= 1048576 ? (n / 1048576).toFixed(1) + ' MB' : n >= 1024 ? (n / 1024).toFixed(0) + ' KB' : n + ' B';
  }
  function showProblems(list) {
    var body = problemsBox.querySelector('tbody');
    YZ.clear(body);
    (list || []).forEach(function (p) {
      body.appendChild(YZ.el('tr', {attrs: {'data-row': p.row === null ? '' : p.row}}, [
        YZ.el('td', {text: p.row === null || p.row === undefined ? '—' : String(p.row)}),
        YZ.el('td', {text: p.column || '—'}),
        YZ.el('td', {}, [p.zh || '', YZ.el('small', {cls: 'd-block', text: p.en || ''})]),
        YZ.el('td', {text: p.value === null || p.value === undefined ? '' : String(p.value)})]));
    });
    problemsBox.hidden = !(list && list.length);
  }

  function row(d) {
    var nameCell = YZ.el('td', {cls: 'ds-name', text: d.name});
    var renameBtn = YZ.el('button', {cls: 'btn btn-sm btn-outline-secondary', attrs: {type: 'button', 'data-action': 'rename'}},
                          ['改名', YZ.el('small', {text: ' rename'})]);
    var deleteBtn = YZ.el('button', {cls: 'btn btn-sm btn-outline-danger', attrs: {type: 'button', 'data-action': 'delete'}},
                          ['删除', YZ.el('small', {text: ' delete'})]);
    renameBtn.addEventListener('click', function () {
      var name = window.prompt('新名称 / new name', d.name);
      if (name === null || !name.trim() || name.trim() === d.name) return;
      YZ.sendJSON('PATCH', '/api/datasets/' + d.id, {name: name.trim()}).then(function () {
        msg(listMsg, '已改名 / renamed', 'ok');
        return loadList();
      }).catch(function (e) { msg(listMsg, YZ.errorText(e), 'error'); });
    });
    deleteBtn.addEventListener('click', function () {
      if (!window.confirm('删除数据集“' + d.name + '”？/ delete this dataset?')) return;
      YZ.sendJSON('DELETE', '/api/datasets/' + d.id, {}).then(function () {
        msg(listMsg, '已删除 / deleted', 'ok');
        return loadList();
      }).catch(function (e) { msg(listMsg, YZ.errorText(e), 'error'); });
    });
    var added = (d.created_at || '').replace('T', ' ').replace('Z', ' UTC');
    return YZ.el('tr', {attrs: {'data-id': d.id}}, [
      YZ.el('td', {text: String(d.id)}), nameCell,
      YZ.el('td', {cls: 'num', text: YZ.fmtNumber ? YZ.fmtNumber(d.rows) : String(d.rows)}),
      YZ.el('td', {cls: 'num', text: String(d.skipped || 0)}),
      YZ.el('td', {text: d.crs || ''}),
      YZ.el('td', {cls: 'num', text: fmtBytes(d.bytes)}),
      YZ.el('td', {}, [added, YZ.el('small', {cls: 'd-block', text: d.created_by || ''})]),
      YZ.el('td', {cls: 'text-nowrap'}, [renameBtn, ' ', deleteBtn])]);
  }
  function loadList() {
    return YZ.getJSON('/api/datasets').then(function (list) {
      YZ.clear(tbody);
      if (!list || !list.length) {
        tbody.appendChild(YZ.el('tr', {}, [YZ.el('td', {cls: 'muted', attrs: {colspan: 8}},
                                                  ['还没有数据集：地图使用配置的热点文件。', YZ.el('small', {text: ' No dataset yet: the maps use the configured hotspot file.'})])]));
      } else {
        list.forEach(function (d) { tbody.appendChild(row(d)); });
      }
      tbody.parentNode.setAttribute('data-count', String((list || []).length));
    }).catch(function (e) { msg(listMsg, YZ.errorText(e), 'error'); });
  }

  form.addEventListener('submit', function (e) {
    e.preventDefault();
    var file = form.elements.file.files[0];
    var name = form.elements.name.value.trim();
    if (!name) { msg(msgEl, '请填写名称 / enter a name', 'error'); return; }
    if (!file) { msg(msgEl, '请选择文件 / choose a file', 'error'); return; }
    var limit = (YZ.config || {}).max_bytes;
    if (limit && file.size > limit) {
      msg(msgEl, '文件过大，上限为 ' + Math.round(limit / 1048576) + ' MB / the file is too large', 'error');
      return;
    }
    var data = new FormData();
    data.append('name', name);
    data.append('crs', form.elements.crs.value);
    data.append('skip_bad_rows', form.elements.skip_bad_rows.checked ? '1' : '0');
    data.append('file', file, file.name);
    var btn = document.getElementById('upload-btn');
    btn.disabled = true;
    showProblems([]);
    msg(msgEl, '正在上传并校验… / uploading and checking…');
    YZ.upload('/api/datasets', data).then(function (d) {
      var text = '已添加数据集 #' + d.id + '「' + d.name + '」：' + d.rows + ' 行' + (d.skipped ? '，跳过 ' + d.skipped + ' 行' : '') +
                 ' / dataset added: ' + d.rows + ' rows' + (d.skipped ? ', ' + d.skipped + ' skipped' : '');
      msg(msgEl, text, 'ok');
      msgEl.setAttribute('data-dataset-id', String(d.id));
      showProblems(d.problems);
      form.reset();
      return loadList();
    }).catch(function (err) {
      msg(msgEl, YZ.errorText(err), 'error');
      showProblems(err && err.problems);
    }).then(function () { btn.disabled = false; });
  });
  loadList();
})();
