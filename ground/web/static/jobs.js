// The payload's jobs: the latest JOB_LIST (asked for with REPORT_JOBS, and asked again after job
// events while this account holds command authority), the running job's progress from
// housekeeping, and the operator's actions: submit, cancel (hazardous: confirmed), hold,
// release and reprioritise, each a dictionary command sent through commander.js.
import { addTypeWithView } from '/static/views.js';

const JOB_EVENT = /^JOB_/;
const REFRESH_EVERY_MS = 2000;

export function jobsPlugin(api, live, session, commander) {
  return function install(openmct) {
    let jobs = [];
    let pages = [];
    let progress = null;
    const redraws = new Set();
    const changed = () => redraws.forEach((redraw) => redraw());
    const take = (packet) => {
      if (packet.v.page === 0) pages = [];
      pages[packet.v.page] = packet.v.jobs;
      if (pages.filter(Boolean).length === packet.v.pages) {
        jobs = pages.flat();
        changed();
      }
    };
    let asked = 0;
    let due = null;  // a refresh put off until REFRESH_EVERY_MS after the last
    const refresh = () => {
      due = null;
      asked = Date.now();
      commander.send('REPORT_JOBS', {});
    };
    live.packetListeners.add((packet) => {
      if (packet.name === 'JOB_LIST') {
        take(packet);
      } else if (packet.name === 'HOUSEKEEPING') {
        progress = { state: packet.names.job_state, pct: packet.v.job_progress_pct };
        changed();
      } else if (packet.event && JOB_EVENT.test(packet.name) && redraws.size &&
                 live.status.authority === session.account && due === null) {
        due = setTimeout(refresh, Math.max(0, asked + REFRESH_EVERY_MS - Date.now()));
      }
    });
    api.get('/api/latest?packet=JOB_LIST').then((packet) => packet && take(packet));
    addTypeWithView(openmct, {
      type: 'payload.jobs',
      name: 'Jobs',
      description: 'The payload jobs: submit, cancel, reprioritise, follow',
      cssClass: 'icon-list-view',
      view: () => {
        let redraw = null;
        return {
          show(element) {
            element.classList.add('c-jobs');
            element.innerHTML = JOBS_VIEW;
            const message = element.querySelector('.c-jobs-message');
            const act = async (name, args) => {
              message.textContent = await commander.send(name, args);
            };
            element.querySelector('.c-jobs-refresh').onclick = () => act('REPORT_JOBS', {});
            element.querySelector('.c-jobs-submit').onclick = () => {
              let manifest;
              try {
                manifest = JSON.parse(element.querySelector('.c-jobs-manifest').value);
              } catch {
                message.textContent = 'the manifest is not JSON';
                return;
              }
              act('SUBMIT_JOB', { manifest });
            };
            redraw = () => drawJobs(element, jobs, progress, act);
            redraws.add(redraw);
            redraw();
          },
          destroy() {
            redraws.delete(redraw);
          }
        };
      }
    });
  };
}

const JOBS_VIEW = `
  <div class="c-jobs-bar"><button class="c-jobs-refresh">Refresh (REPORT_JOBS)</button>
    <span class="c-jobs-progress"></span></div>
  <table class="c-jobs-table"><thead><tr><th>Job</th><th>State</th><th>Priority</th>
    <th>Progress</th><th>Exit</th><th>Started (on board, UTC)</th><th>Ended (on board, UTC)</th><th></th>
  </tr></thead><tbody></tbody></table>
  <label>Job manifest (JSON) <textarea class="c-jobs-manifest"
    placeholder='{"id": "job-1", "command": ["hash-chain", "--iterations", "1000"]}'></textarea></label>
  <button class="c-jobs-submit">Submit job</button>
  <p class="c-jobs-message" role="alert"></p>`;

function drawJobs(element, jobs, progress, act) {
  element.querySelector('.c-jobs-progress').textContent = progress
    ? `current job: ${progress.state ?? '-'}, ${progress.pct ?? '-'} %` : '';
  const time = (s) => (s ? new Date(s * 1000).toISOString().replace('.000Z', 'Z') : '-');
  const rows = jobs.map((job) => {
    const row = document.createElement('tr');
    row.dataset.job = job.id;
    const pct = job.progress === null || job.progress === undefined ? '' : `${Math.round(job.progress * 100)} %`;
    for (const text of [job.id, job.state, job.priority ?? '', pct, job.exit_code ?? '',
      time(job.started_at), time(job.ended_at)]) {
      const cell = document.createElement('td');
      cell.textContent = text;
      row.append(cell);
    }
    const actions = document.createElement('td');
    const button = (label, name, args) => {
      const b = document.createElement('button');
      b.textContent = label;
      b.onclick = () => act(name, { job_id: job.id, ...args });
      actions.append(b);
    };
    if (['QUEUED', 'RUNNING', 'HELD'].includes(job.state)) {
      button('Cancel', 'CANCEL_JOB', {});
      button(job.state === 'HELD' ? 'Release' : 'Hold', job.state === 'HELD' ? 'RELEASE_JOB' : 'HOLD_JOB', {});
      const priority = job.priority ?? 100;
      button('Priority +10', 'REPRIORITISE_JOB', { priority: Math.min(255, priority + 10) });
      button('Priority -10', 'REPRIORITISE_JOB', { priority: Math.max(0, priority - 10) });
    }
    row.append(actions);
    return row;
  });
  element.querySelector('.c-jobs-table tbody').replaceChildren(...rows);
}
