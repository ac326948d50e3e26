// Files: the CFDP transfers in progress, down and up, with their progress (asked of the station
// each second), and what the payload sent down (its CFDP outcome, and the ground's check:
// verified against the SHA-256 its RESULTS.json lists, rejected, pending, or the CFDP checksum
// alone), as the station holds them on connecting and as they arrive.
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
        let timer = null;
        return {
          async show(element) {
            element.classList.add('c-files');
            element.innerHTML = `<form class="c-upload"><label>File <input type="file" name="file" /></label>
              <label>Name on board <input name="name" placeholder="inputs/weights.bin" /></label>
              <button class="c-upload-send">Upload (CFDP)</button>
              <span class="c-upload-message" role="status"></span></form>
              <h3>Transfers in progress</h3><table class="c-transfers-table">
              <thead><tr><th></th><th>File</th><th>Progress</th><th>State</th></tr></thead>
              <tbody></tbody></table>
              <h3>Files down</h3><table class="c-files-table"><thead><tr><th>File</th><th>Octets</th>
              <th>CFDP</th><th>Check</th><th>Received (ground time, UTC)</th><th>SHA-256</th>
              </tr></thead><tbody></tbody></table>`;
            const load = async () => drawFiles(element, await api.get('/api/files'));
            listener = () => load();  // a file came down: the station's register has it, checked
            live.fileListeners.add(listener);
            element.querySelector('.c-upload').onsubmit = (event) => {
              event.preventDefault();
              upload(element, api);
            };
            const transfers = async () => drawTransfers(element, await api.get('/api/transfers'));
            timer = setInterval(() => transfers().catch(() => {}), 1000);
            await Promise.all([load(), transfers()]);
          },
          destroy() {
            live.fileListeners.delete(listener);
            clearInterval(timer);
          }
        };
      }
    });
  };
}

// Send a chosen file up: to the web server, which has the station send it by CFDP.
async function upload(element, api) {
  const message = element.querySelector('.c-upload-message');
  const file = element.querySelector('.c-upload [name=file]').files[0];
  const name = element.querySelector('.c-upload [name=name]').value.trim() || file?.name;
  if (!file) {
    message.textContent = 'choose a file';
    return;
  }
  const form = new FormData();
  form.append('name', name);
  form.append('file', file);
  const response = await fetch('/api/upload', {
    method: 'POST', credentials: 'same-origin', body: form,
    headers: { 'X-CSRF-Token': api.session.csrf }
  });
  const answer = await response.json();
  message.textContent = response.ok
    ? `${answer.name}: queued (CFDP transaction ${answer.seq_num})` : `refused: ${answer.error}`;
}

function drawTransfers(element, transfers) {
  const rows = transfers.map((t) => {
    const row = document.createElement('tr');
    row.dataset.transfer = `${t.direction}-${t.seq_num}`;
    const pct = t.size ? ` (${Math.floor((100 * t.octets) / t.size)} %)` : '';
    for (const text of [t.direction, t.name ?? '(metadata not yet down)',
      `${t.octets} of ${t.size ?? '?'} octets${pct}`, t.state]) {
      const cell = document.createElement('td');
      cell.textContent = text;
      row.append(cell);
    }
    return row;
  });
  element.querySelector('.c-transfers-table tbody').replaceChildren(...rows);
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
  element.querySelector('.c-files-table tbody').replaceChildren(...rows);
}
