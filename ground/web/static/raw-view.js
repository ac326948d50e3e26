// The raw packet view of a telemetry packet: the newest one's octets in hex, sixteen to a line
// with their offsets, then its headers field by field with the octets each spans, then its data
// fields decoded; fetched again as each new one arrives (at most once a second).
export function rawViewPlugin(api, live) {
  return function install(openmct) {
    openmct.objectViews.addProvider({
      key: 'payload.raw',
      name: 'Raw packet',
      cssClass: 'icon-brackets',
      canView: (domainObject) => domainObject.type === 'payload.packet',
      priority: () => 1,
      view(domainObject) {
        let listener = null;
        return {
          async show(element) {
            element.classList.add('c-raw');
            let fetched = 0;
            const load = async () => {
              fetched = Date.now();
              const raw = await api.get(`/api/raw?packet=${encodeURIComponent(domainObject.name)}`);
              element.replaceChildren(...(raw ? drawRaw(raw) : [text('p', 'none archived yet')]));
            };
            listener = (packet) => {
              if (packet.name === domainObject.name && Date.now() - fetched > 1000) load();
            };
            live.packetListeners.add(listener);
            await load();
          },
          destroy() {
            live.packetListeners.delete(listener);
          }
        };
      }
    });
  };
}

function text(tag, content) {
  const node = document.createElement(tag);
  node.textContent = content;
  return node;
}

function drawRaw(raw) {
  const lines = [];
  for (let at = 0; at < raw.hex.length; at += 32) {
    const octets = raw.hex.slice(at, at + 32).match(/../g).join(' ');
    lines.push(`${(at / 2).toString(16).padStart(4, '0')}  ${octets}`);
  }
  const table = (rows, columns) => {
    const node = document.createElement('table');
    node.className = 'c-raw-table';
    node.append(...rows.map((row) => {
      const tr = document.createElement('tr');
      tr.append(...columns.map((key) => text('td', String(row[key] ?? ''))));
      return tr;
    }));
    return node;
  };
  return [
    text('p', `${raw.name}: ${raw.hex.length / 2} octets; on board ${new Date(raw.t).toISOString()}, ` +
      `received on the ground ${new Date(raw.ert).toISOString()}`),
    text('pre', lines.join('\n')),
    text('h3', 'Headers'),
    table(raw.header, ['octets', 'field', 'value']),
    text('h3', 'Data fields'),
    table(raw.fields, ['field', 'value'])
  ];
}
