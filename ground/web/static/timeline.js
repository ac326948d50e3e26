// The pass-planning timeline: the coming contact (link window) and eclipse from the bus's
// predictions in housekeeping (link_in_s, eclipse_in_s: seconds to the next; 0 while in one),
// and the windows and eclipses of the past hours from the archive, on one line of on-board time.
import { addTypeWithView } from '/static/views.js';

const PAST_MS = 6 * 3600 * 1000;
const AHEAD_MS = 3 * 3600 * 1000;
const NONE = 0xffffffff;  // nothing predicted

export function timelinePlugin(api, live) {
  return function install(openmct) {
    addTypeWithView(openmct, {
      type: 'payload.timeline',
      name: 'Pass planning',
      description: 'Coming contacts and eclipses, from the bus predictions, and the past ones',
      cssClass: 'icon-timeline',
      view: () => {
        let listener = null;
        let timer = null;
        return {
          async show(element) {
            element.innerHTML = `<div class="c-timeline"><p class="c-timeline-next"></p>
              <svg class="c-timeline-svg" viewBox="0 0 1000 90" preserveAspectRatio="none"></svg>
              <p class="c-timeline-span"></p></div>`;
            let latest = null;
            let past = { link: [], eclipse: [] };
            listener = (packet) => {
              if (packet.name === 'HOUSEKEEPING') latest = packet;
            };
            live.packetListeners.add(listener);
            latest ??= await api.get('/api/latest?packet=HOUSEKEEPING');
            const load = async () => {
              if (!latest) return;
              const now = latest.t;
              const range = `start=${Math.floor(now - PAST_MS)}&end=${Math.ceil(now + 1000)}`;
              const [link, sun] = await Promise.all([
                api.get(`/api/history?key=HOUSEKEEPING.link_in_s&${range}`),
                api.get(`/api/history?key=HOUSEKEEPING.sunlit&${range}`)
              ]);
              past = { link: spans(link, (v) => v === 0), eclipse: spans(sun, (v) => v === 0) };
            };
            await load();
            const draw = () => latest && drawTimeline(element, latest, past);
            let ticks = 0;
            timer = setInterval(() => {
              ticks += 1;
              if (ticks % 60 === 0 || !past.link.length) load();  // the archive's, once a minute
              draw();
            }, 1000);
            draw();
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

// The stretches [from, to] of a history's columns where the value satisfies ``inside``.
function spans(columns, inside) {
  const out = [];
  let start = null;
  columns.t.forEach((t, i) => {
    if (inside(columns.value[i])) {
      start ??= t;
    } else if (start !== null) {
      out.push([start, t]);
      start = null;
    }
  });
  if (start !== null) out.push([start, columns.t.at(-1)]);
  return out;
}

function iso(ms) {
  return new Date(ms).toISOString().replace('.000Z', 'Z');
}

function clock(seconds) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${Math.floor(seconds / 3600)}:${pad(Math.floor(seconds / 60) % 60)}:${pad(seconds % 60)}`;
}

function drawTimeline(element, hk, past) {
  const now = hk.t;
  const next = (seconds, what) => seconds === 0 ? `${what}: now` : seconds === NONE
    ? `${what}: none predicted` : `next ${what} in ${clock(seconds)}, at ${iso(now + seconds * 1000)}`;
  element.querySelector('.c-timeline-next').textContent =
    `${next(hk.v.link_in_s, 'link window')} | ${next(hk.v.eclipse_in_s, 'eclipse')} (on-board time, UTC)`;
  const from = now - PAST_MS;
  const x = (t) => Math.max(0, Math.min(1000, ((t - from) / (PAST_MS + AHEAD_MS)) * 1000));
  const bar = (cls, y, [a, b]) =>
    `<rect class="${cls}" x="${x(a)}" y="${y}" width="${Math.max(1, x(b) - x(a))}" height="25"></rect>`;
  const bars = [
    ...past.link.map((s) => bar('is-link', 10, s)),
    ...past.eclipse.map((s) => bar('is-eclipse', 50, s))
  ];
  if (hk.v.link_in_s !== NONE && hk.v.link_in_s > 0) {
    bars.push(bar('is-link is-predicted', 10, [now + hk.v.link_in_s * 1000, now + hk.v.link_in_s * 1000 + 60_000]));
  }
  if (hk.v.eclipse_in_s !== NONE && hk.v.eclipse_in_s > 0) {
    bars.push(bar('is-eclipse is-predicted', 50, [now + hk.v.eclipse_in_s * 1000, now + hk.v.eclipse_in_s * 1000 + 60_000]));
  }
  bars.push(`<line class="is-now" x1="${x(now)}" x2="${x(now)}" y1="0" y2="90"></line>`);
  element.querySelector('.c-timeline-svg').innerHTML = bars.join('');
  element.querySelector('.c-timeline-span').textContent =
    `link windows (top) and eclipses (bottom), ${iso(from)} to ${iso(now + AHEAD_MS)}; the line is now; ` +
    'predicted starts are marked, their ends come with the pass';
}
