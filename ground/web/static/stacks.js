// Command stacks: a saved sequence of commands (one per line, as the terminal console's command
// line takes them) that an operator steps through; each line is checked by the server, and the
// next is sent only once the one before has completed. A failure stops the stack there.
import { addTypeWithView } from '/static/views.js';

export function stacksPlugin(api, commander) {
  return function install(openmct) {
    addTypeWithView(openmct, {
      type: 'payload.command-stack',
      name: 'Command stack',
      description: 'Commands stepped through in order, each verified before the next',
      cssClass: 'icon-list-item',
      creatable: true,
      initialize: (object) => {
        object.lines = '';
      },
      form: [
        { key: 'lines', name: 'Commands, one per line (NAME KEY=VALUE ...)', control: 'textarea',
          cssClass: 'l-input-lg', property: ['lines'] }
      ],
      view: (domainObject) => {
        let redraw = null;
        return {
          async show(element) {
            element.classList.add('c-stack');
            const lines = (domainObject.lines ?? '').split('\n').map((l) => l.trim()).filter(Boolean);
            const steps = lines.map((line) => ({ line, state: 'unchecked', detail: '' }));
            let next = 0;
            element.innerHTML = `<div><button class="c-stack-check">Check every line</button>
              <button class="c-stack-step">Step: send the next</button></div>
              <table class="c-stack-table"><tbody></tbody></table>`;
            redraw = () => drawSteps(element, steps, next);
            const check = async () => {
              for (const step of steps.filter((s) => s.state === 'unchecked' || s.state === 'invalid')) {
                try {
                  step.request = await api.post('/api/parse', { line: step.line });
                  step.state = 'ready';
                  step.detail = step.request.hazardous ? 'hazardous: asks to confirm' : '';
                } catch (error) {
                  step.state = 'invalid';
                  step.detail = error.message;
                }
              }
              redraw();
              return steps.every((s) => s.state !== 'invalid');
            };
            element.querySelector('.c-stack-check').onclick = check;
            element.querySelector('.c-stack-step').onclick = async () => {
              if (next >= steps.length || !(await check())) return;
              const step = steps[next];
              step.state = 'sending';
              redraw();
              const before = commander.history.length;
              step.detail = await commander.send(step.request.name, step.request.args);
              const entry = commander.history[before];
              const done = await settled(commander, entry);
              step.state = done ? 'completed' : 'FAILED';
              step.detail = entry ? (entry.failure ?? entry.stages.join(', ')) : step.detail;
              if (done) next += 1;
              redraw();
            };
            redraw();
          },
          destroy() {
            redraw = null;
          }
        };
      }
    });
  };
}

// Whether the command completed (false: it failed, was refused, or was not sent).
function settled(commander, entry) {
  return new Promise((resolve) => {
    if (!entry) return resolve(false);
    const look = () => {
      if (entry.failure) return finish(false);
      if (entry.stages.includes('completed')) return finish(true);
    };
    const finish = (result) => {
      commander.listeners.delete(look);
      resolve(result);
    };
    commander.listeners.add(look);
    look();
  });
}

function drawSteps(element, steps, next) {
  const rows = steps.map((step, i) => {
    const row = document.createElement('tr');
    row.className = `is-${step.state.toLowerCase()}${i === next ? ' is-next' : ''}`;
    for (const text of [i === next ? '>' : '', step.line, step.state, step.detail]) {
      const cell = document.createElement('td');
      cell.textContent = text;
      row.append(cell);
    }
    return row;
  });
  element.querySelector('tbody').replaceChildren(...rows);
}
