// The fleet: every spacecraft the station serves (link, power, sun, GPU, jobs, next contact,
// traffic) and the fleet job broker's counts and jobs, as the terminal console's fleet view shows
// them (the server sends the same rows), asked of the station every few seconds; and a job for
// the broker to place, from a JSON manifest.
import { addTypeWithView } from '/static/views.js';

const REFRESH_EVERY_MS = 3000;

export function fleetPlugin(api) {
  return function install(openmct) {
    addTypeWithView(openmct, {
      type: 'payload.fleet',
      name: 'Fleet',
      description: 'Every spacecraft of the station, and the fleet job broker: submit, follow',
      cssClass: 'icon-object',
      view: () => {
        let timer = null;
        return {
          async show(element) {
            element.classList.add('c-fleet');
            element.innerHTML = FLEET_VIEW;
            const message = element.querySelector('.c-fleet-message');
            const load = async () => drawFleet(element, await api.get('/api/fleet'));
            element.querySelector('.c-fleet-submit').onclick = async () => {
              let manifest;
              try {
                manifest = JSON.parse(element.querySelector('.c-fleet-manifest').value);
              } catch {
                message.textContent = 'the manifest is not JSON';
                return;
              }
              try {
                message.textContent = (await api.post('/api/fleet/submit', { manifest })).placed;
              } catch (error) {
                message.textContent = `not placed: ${error.message}`;
              }
              await load();
            };
            timer = setInterval(() => load().catch(() => {}), REFRESH_EVERY_MS);
            await load().catch((error) => { message.textContent = error.message; });
          },
          destroy() {
            clearInterval(timer);
          }
        };
      }
    });
  };
}

const FLEET_VIEW = `
  <table class="c-fleet-table"><thead></thead><tbody></tbody></table>
  <p class="c-fleet-broker"></p>
  <table class="c-fleet-jobs"><thead></thead><tbody></tbody></table>
  <label>Job manifest for the fleet (JSON) <textarea class="c-fleet-manifest"
    placeholder='{"id": "fleet-1", "command": ["hash-chain"], "deadline": 1800000000}'></textarea></label>
  <button class="c-fleet-submit">Submit to the fleet</button>
  <p class="c-fleet-message" role="alert"></p>`;

function drawTable(table, columns, rows) {
  const head = document.createElement('tr');
  for (const name of columns) {
    const cell = document.createElement('th');
    cell.textContent = name;
    head.append(cell);
  }
  table.querySelector('thead').replaceChildren(head);
  table.querySelector('tbody').replaceChildren(...rows.map((cells) => {
    const row = document.createElement('tr');
    row.dataset.key = cells[0];
    for (const text of cells) {
      const cell = document.createElement('td');
      cell.textContent = text;
      row.append(cell);
    }
    return row;
  }));
}

function drawFleet(element, fleet) {
  drawTable(element.querySelector('.c-fleet-table'), fleet.columns, fleet.spacecraft);
  element.querySelector('.c-fleet-broker').textContent = fleet.broker;
  drawTable(element.querySelector('.c-fleet-jobs'), fleet.job_columns, fleet.jobs);
}
