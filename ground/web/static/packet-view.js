// A page for every report: each telemetry packet of the dictionary (housekeeping, JOB_DETAIL,
// JOB_LIST, KEY_LIST and the rest) as a table of its fields, the newest values live, with units,
// enum names, yellow and red limits, and the times labelled: on-board and ground receipt, UTC.
import { addTypeWithView } from '/static/views.js';

import { limitOf } from '/static/telemetry.js';

const STALE_AFTER_MS = 5000;

export function packetViewPlugin(api, live) {
  return function install(openmct) {
    addTypeWithView(openmct, {
      type: 'payload.packet',
      name: 'Telemetry packet',
      description: 'A telemetry packet of the payload dictionary and its fields',
      cssClass: 'icon-packet',
      view(domainObject) {
        let listener = null;
        let timer = null;
        return {
          async show(element) {
            const points = await Promise.all(
              domainObject.composition.map((id) => openmct.objects.get(id))
            );
            element.classList.add('c-packet');
            element.innerHTML = `<p class="c-packet-times"></p><table class="c-packet-table">
              <thead><tr><th>Field</th><th>Value</th><th>Unit</th></tr></thead><tbody></tbody></table>`;
            const rows = new Map();
            for (const point of points) {
              const row = document.createElement('tr');
              row.dataset.field = point.field;
              row.title = point.notes || '';
              row.innerHTML = '<td></td><td class="c-packet-value">-</td><td></td>';
              row.cells[0].textContent = point.field;
              row.cells[2].textContent = point.telemetry.values.at(-1).unit ?? '';
              element.querySelector('tbody').append(row);
              rows.set(point.field, { row, point });
            }
            let last = null;
            const draw = (packet) => {
              last = packet;
              element.querySelector('.c-packet-times').textContent =
                `on board ${iso(packet.t)} | received on the ground ${iso(packet.ert)}`;
              for (const [field, { row, point }] of rows) {
                if (!(field in packet.v)) continue;
                const value = packet.v[field];
                const cell = row.cells[1];
                cell.textContent = shown(value, packet.names[field]);
                cell.className = 'c-packet-value ' + (point.limits ? limitOf(value, point.limits)?.cssClass ?? '' : '');
              }
            };
            listener = (packet) => packet.name === domainObject.name && draw(packet);
            live.packetListeners.add(listener);  // before asking the archive: nothing missed
            const latest = await api.get(`/api/latest?packet=${encodeURIComponent(domainObject.name)}`);
            if (latest && (last === null || latest.t > last.t)) draw(latest);
            timer = setInterval(() => {
              const stale = !live.status.station || !last ||
                Date.now() - (live.lastPacket[domainObject.name] ?? 0) > STALE_AFTER_MS;
              element.classList.toggle('is-stale', stale && domainObject.name === 'HOUSEKEEPING');
            }, 1000);
          },
          destroy() {
            live.packetListeners.delete(listener);
            clearInterval(timer);
          }
        };
      }
    });
  };
}

function iso(ms) {
  return new Date(ms).toISOString().replace('.000Z', 'Z');
}

function shown(value, name) {
  if (value === null) return 'not valid';
  if (name !== undefined) return name;
  if (typeof value === 'number' && !Number.isInteger(value)) return value.toFixed(3);
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}
