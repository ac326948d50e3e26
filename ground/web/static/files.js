// Files: what the payload sent down (its CFDP outcome, and the ground's check: verified against
// the SHA-256 its RESULTS.json lists, rejected, pending, or the CFDP checksum alone), as the
// station holds them on connecting and as they arrive.
import { addTypeWithView } from '/static/views.js';

export function filesPlugin(api, live) {
  return function install(openmct) {
    addTypeWithView(openmct, {
      type: 'payload.files',
      name: 'Files',
      description: 'Files down from the payload and whether each was verified',
      cssClass: 'icon-folder',
      view: () => {
        let listener = null;
        return {
          async show(element) {
            element.classList.add('c-files');
            element.innerHTML = `<table class="c-files-table"><thead><tr><th>File</th><th>Octets</th>
              <th>CFDP</th><th>Check</th><th>Received (ground time, UTC)</th><th>SHA-256</th>
              </tr></thead><tbody></tbody></table>`;
            const load = async () => drawFiles(element, await api.get('/api/files'));
            listener = () => load();  // a file came down: the station's register has it, checked
            live.fileListeners.add(listener);
            await load();
          },
          destroy() {
            live.fileListeners.delete(listener);
          }
        };
      }
    });
  };
}

function drawFiles(element, files) {
  const rows = files.sort((a, b) => (b.received_at ?? 0) - (a.received_at ?? 0)).map((file) => {
    const row = document.createElement('tr');
    row.dataset.file = file.name;
    row.className = `is-${file.check}`;
    const when = file.received_at ? new Date(file.received_at * 1000).toISOString() : '-';
    for (const text of [file.name, file.size ?? '-', file.condition, file.check, when, file.sha256 ?? '']) {
      const cell = document.createElement('td');
      cell.textContent = text;
      row.append(cell);
    }
    return row;
  });
  element.querySelector('tbody').replaceChildren(...rows);
}
