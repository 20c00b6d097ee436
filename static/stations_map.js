// Station map: loads /api/stations as GeoJSON and shows clustered markers.
// Every user-supplied text goes through textContent (never innerHTML) so names cannot inject markup.
(function () {
  var map = L.map('map', { preferCanvas: true }).setView([23.13, 113.32], 10);
  var cluster = L.markerClusterGroup({ chunkedLoading: true });
  map.addLayer(cluster);

  function row(dl, label, value) {
    if (value === null || value === undefined || value === '' || (Array.isArray(value) && !value.length)) return;
    var dt = document.createElement('dt'); dt.textContent = label;
    var dd = document.createElement('dd'); dd.textContent = Array.isArray(value) ? value.join('、') : String(value);
    dl.appendChild(dt); dl.appendChild(dd);
  }
  function popup(p) {
    var box = document.createElement('div'); box.className = 'popup';
    var h = document.createElement('h3'); h.textContent = p.name; box.appendChild(h);
    var dl = document.createElement('dl');
    row(dl, '类型', p.type); row(dl, '地址', p.address); row(dl, '服务', p.services);
    row(dl, '开放时间', p.hours); row(dl, '座位', p.capacity); row(dl, '电话', p.phone); row(dl, '状态', p.status);
    box.appendChild(dl);
    return box;
  }
  function load() {
    var form = document.getElementById('filters');
    var params = new URLSearchParams();
    ['type', 'group'].forEach(function (n) { var v = form.elements[n].value; if (v) params.set(n, v); });
    fetch('/api/stations?' + params.toString()).then(function (r) { return r.json(); }).then(function (fc) {
      cluster.clearLayers();
      var markers = fc.features.map(function (f) {
        var c = f.geometry.coordinates;
        return L.marker([c[1], c[0]], { title: f.properties.name }).bindPopup(popup(f.properties));
      });
      cluster.addLayers(markers);
      document.getElementById('count').textContent = markers.length + ' 个站点';
      if (markers.length) map.fitBounds(cluster.getBounds(), { maxZoom: 14 });
    });
  }
  document.getElementById('filters').addEventListener('change', load);
  load();
})();
