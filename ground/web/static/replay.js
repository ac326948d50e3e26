// Replay of an archived interval into this page, with pause and seek: the server sends the
// interval's packets at the chosen speed of their on-board pace, in place of live ones, so every
// view (packets, plots in the spacecraft clock's time, events, jobs) shows it as it was lived.
import { addTypeWithView } from '/static/views.js';

export function replayPlugin(live) {
  return function install(openmct) {
    addTypeWithView(openmct, {
      type: 'payload.replay',
      name: 'Replay',
      description: 'An archived interval replayed: pause, seek, speed',
      cssClass: 'icon-history',
      view: () => {
        let listener = null;
        return {
          show(element) {
            element.innerHTML = `<div class="c-replay">${REPLAY_VIEW}</div>`;
            const field = (name) => element.querySelector(`[name=${name}]`);
            const ms = (text) => Date.parse(text.endsWith('Z') ? text : `${text}Z`);
            const state = element.querySelector('.c-replay-state');
            const slider = field('position');
            element.querySelector('.c-replay-play').onclick = () => {
              const from = ms(field('from').value);
              const to = ms(field('to').value);
              if (Number.isNaN(from) || Number.isNaN(to)) {
                state.textContent = 'from and to: UTC times, e.g. 2026-03-20T00:00:00Z';
                return;
              }
              live.request({ op: 'replay', action: 'play', from, to, speed: Number(field('speed').value) });
            };
            for (const action of ['pause', 'resume', 'stop']) {
              element.querySelector(`.c-replay-${action}`).onclick = () =>
                live.request({ op: 'replay', action });
            }
            slider.onchange = () => live.request({ op: 'replay', action: 'seek', to: Number(slider.value) });
            listener = (replay) => {
              if (replay.state === 'refused') {
                state.textContent = `refused: ${replay.message}`;
                return;
              }
              if (replay.from !== undefined && replay.from !== null) {
                slider.min = replay.from;
                slider.max = replay.to;
                slider.value = replay.position;
              }
              state.textContent = replay.state === 'stopped' ? 'live'
                : `${replay.state.toUpperCase()} at ${new Date(replay.position).toISOString()} (x${replay.speed})`;
            };
            live.replayListeners.add(listener);
          },
          destroy() {
            live.replayListeners.delete(listener);
          }
        };
      }
    });
  };
}

const REPLAY_VIEW = `
  <div class="c-replay-form">
    <label>From (on board, UTC) <input name="from" placeholder="2026-03-20T00:00:00Z" /></label>
    <label>To (on board, UTC) <input name="to" placeholder="2026-03-20T01:00:00Z" /></label>
    <label>Speed <select name="speed"><option>1</option><option>10</option><option selected>60</option>
      <option>600</option></select></label>
    <button class="c-replay-play">Play</button><button class="c-replay-pause">Pause</button>
    <button class="c-replay-resume">Resume</button><button class="c-replay-stop">Stop (back to live)</button>
  </div>
  <input class="c-replay-seek" name="position" type="range" step="1000" />
  <p class="c-replay-state" role="status">live</p>`;
