// Accounts page (/admin/users, admins): list (GET /api/users), create (POST /api/users), change role,
// area, password or active flag (PATCH /api/users/<id>).  Text only (YZ.el), never HTML.
(function () {
  'use strict';
  var YZ = window.YZ, cfg = YZ.config, el = YZ.el;
  var roleNames = cfg.role_names || {}, names = cfg.area_names || {};
  var $ = function (id) { return document.getElementById(id); };
  var form = $('user-form');

  function msg(node, text, kind) {
    node.textContent = text || '';
    node.classList.toggle('is-error', kind === 'error');
    node.classList.toggle('is-ok', kind === 'ok');
  }
  function patch(u, body, done) {
    return YZ.sendJSON('PATCH', '/api/users/' + u.id, body).then(function (r) {
      msg($('list-msg'), done + '：' + r.username, 'ok');
      return load();
    }).catch(function (e) { msg($('list-msg'), YZ.errorText(e), 'error'); });
  }
  function row(u) {
    var role = el('select', {cls: 'form-select form-select-sm', attrs: {'aria-label': '角色 / role'}},
      Object.keys(roleNames).map(function (k) { return el('option', {text: roleNames[k] + ' / ' + k, attrs: {value: k, selected: k === u.role}}); }));
    var area = el('input', {cls: 'form-control form-control-sm', attrs: {value: u.adcode || '', maxlength: 12, list: 'areas', 'aria-label': '辖区 / area', size: 8}});
    var save = el('button', {cls: 'btn btn-sm btn-outline-primary', text: '保存', attrs: {type: 'button'}});
    save.addEventListener('click', function () { patch(u, {role: role.value, adcode: area.value.trim()}, '已保存 / saved'); });
    var pw = el('button', {cls: 'btn btn-sm btn-outline-secondary', text: '重置密码', attrs: {type: 'button'}});
    pw.addEventListener('click', function () {
      var p = window.prompt('为 ' + u.username + ' 设置新密码（至少 8 位）\nNew password for ' + u.username + ' (8+ characters)');
      if (p) patch(u, {password: p}, '密码已重置 / password reset');
    });
    var act = el('button', {cls: 'btn btn-sm ' + (u.active ? 'btn-outline-danger' : 'btn-outline-success'),
      text: u.active ? '停用' : '启用', attrs: {type: 'button', disabled: u.id === cfg.me}});
    act.addEventListener('click', function () { patch(u, {active: !u.active}, u.active ? '已停用 / deactivated' : '已启用 / activated'); });
    return el('tr', {cls: u.active ? '' : 'inactive', attrs: {'data-id': u.id}}, [
      el('td', {cls: 'u-name', text: u.username}),
      el('td', {}, [role]),
      el('td', {}, [area, el('small', {cls: 'd-block muted', text: u.area_name || names[u.adcode] || ''})]),
      el('td', {text: u.active ? '启用 / active' : '停用 / inactive'}),
      el('td', {cls: 'small', text: (u.created_at || '').slice(0, 10)}),
      el('td', {cls: 'text-nowrap'}, [save, ' ', pw, ' ', act])]);
  }
  function load() {
    return YZ.getJSON('/api/users').then(function (list) {
      var tbody = YZ.clear(document.querySelector('#user-table tbody'));
      list.forEach(function (u) { tbody.appendChild(row(u)); });
      document.body.setAttribute('data-users-loaded', '1');
    }).catch(function (e) { msg($('list-msg'), YZ.errorText(e), 'error'); });
  }
  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    var f = form.elements;
    YZ.postJSON('/api/users', {username: f.username.value.trim(), password: f.password.value, role: f.role.value,
                               adcode: f.adcode.value.trim()}).then(function (u) {
      msg($('user-msg'), '已创建 / created：' + u.username, 'ok');
      form.reset();
      return load();
    }).catch(function (e) { msg($('user-msg'), YZ.errorText(e), 'error'); });
  });
  load();
  YZ.csrf();
})();
