// Station markers for the planner map: /api/stations (GeoJSON) -> clustered awesome-markers, one colour and
// Font Awesome icon per station type, popups built from DOM text nodes (names cannot inject markup).
(function () {
  'use strict';
  var YZ = window.YZ;

  function row(dl, zh, en, value) {
    if (value === null || value === undefined || value === '' || (Array.isArray(value) && !value.length)) return;
    dl.appendChild(YZ.el('dt', {}, [zh, YZ.el('small', {text: en})]));
    dl.appendChild(YZ.el('dd', {text: Array.isArray(value) ? value.join('、') : String(value)}));
  }

  YZ.stationPopup = function (p) {
    var box = YZ.el('div', {cls: 'yz-popup'});
    box.appendChild(YZ.el('h3', {text: p.name || '（未命名）'}));
    var dl = YZ.el('dl');
    row(dl, '类型', 'type', p.type);
    row(dl, '地址', 'address', p.address);
    row(dl, '服务', 'services', p.services);
    row(dl, '开放时间', 'hours', p.hours);
    row(dl, '座位', 'seats', p.capacity);
    row(dl, '电话', 'phone', p.phone);
    row(dl, '状态', 'status', p.status);
    row(dl, '依托', 'host', p.host);
    box.appendChild(dl);
    return box;
  };

  YZ.stationNames = {};

  // Replace the markers of `cluster` with the stations matching `params`; resolves to the number shown.
  YZ.loadStations = function (cluster, params, opts) {
    var q = YZ.query(Object.assign({}, params, {out_crs: YZ.displayCrs === 'gcj02' ? 'gcj02' : ''}));
    return YZ.getJSON('/api/stations' + (q ? '?' + q : ''), opts).then(function (fc) {
      cluster.clearLayers();
      var markers = (fc.features || []).filter(function (f) { return f.geometry && f.geometry.coordinates; }).map(function (f) {
        var c = f.geometry.coordinates, p = f.properties || {};
        if (p.id) YZ.stationNames[p.id] = p.name;
        var marker = L.marker([c[1], c[0]], {icon: YZ.stationIcon(p.type), title: p.name || '',
                                             opacity: p.status === '在运营' || !p.status ? 1 : 0.6});
        marker.bindPopup(function () { return YZ.stationPopup(p); }, {maxWidth: 280});
        return marker;
      });
      cluster.addLayers(markers);
      return markers.length;
    });
  };
})();
