// Commanding, which Open MCT has none of: forms generated from the dictionary with every argument
// checked before anything is sent, a confirmation for hazardous commands and each command's PUS 1
// verification stages (commander.js), the command history, and command authority. The server and
// the station check everything again.
import { addTypeWithView } from '/static/views.js';

const INTEGER = new Set(['u8', 'u16', 'u32', 'u64', 'i32']);
const FLOAT = new Set(['f32', 'f64', 'cuc']);

export function commandingPlugin(api, live, session, commander) {
  return function install(openmct) {
    addTypeWithView(openmct, {
      type: 'payload.commanding',
      name: 'Commanding',
      description: 'Send dictionary commands and follow their verification',
      cssClass: 'icon-command',
      view: () => {
        let root = null;
        const redraw = () => root && drawHistory(root.querySelector('.c-cmd-history'), commander.history);
        const status = () => root && drawStatus(root.querySelector('.c-cmd-status'), live.status, session);
        return {
          async show(element) {
            root = element;
            element.classList.add('c-cmd');
            element.innerHTML = VIEW;
            commander.listeners.add(redraw);
            live.statusListeners.add(status);
            status();
            redraw();
            wireAuthority(element, api);
            drawForm(element, await commander.describe(), (command, args) =>
              commander.send(command.name, args)
            );
          },
          destroy() {
            commander.listeners.delete(redraw);
            live.statusListeners.delete(status);
            root = null;
          }
        };
      }
    });
  };
}

const VIEW = `
  <div class="c-cmd-status"></div>
  <div class="c-cmd-authority">
    <button data-action="request">Request authority</button>
    <button data-action="release">Release authority</button>
    <button data-action="take">Take authority (admin)</button>
    <span class="c-cmd-authority-answer"></span>
  </div>
  <form class="c-cmd-form" novalidate>
    <label>Command <select name="command"></select></label>
    <p class="c-cmd-description"></p>
    <div class="c-cmd-args"></div>
    <button type="submit" class="c-cmd-send">Send</button>
    <p class="c-cmd-message" role="alert"></p>
  </form>
  <table class="c-cmd-history">
    <thead><tr><th>Sent (ground time, UTC)</th><th>By</th><th>Command</th><th>Verification</th></tr></thead>
    <tbody></tbody>
  </table>`;

function drawStatus(element, status, session) {
  element.textContent =
    `Station: ${status.station ? 'connected' : `not connected (${status.why || '...'})`} | ` +
    `Space link: ${status.link_up ? 'UP' : 'DOWN'} | ` +
    `Command authority: ${status.authority ?? 'free'} | You: ${session.account} (${session.role})`;
}

function wireAuthority(element, api) {
  const answer = element.querySelector('.c-cmd-authority-answer');
  element.querySelectorAll('.c-cmd-authority button').forEach((button) => {
    button.addEventListener('click', async () => {
      try {
        const { holder } = await api.post('/api/authority', { action: button.dataset.action });
        answer.textContent = `held by ${holder ?? 'nobody'}`;
      } catch (error) {
        answer.textContent = error.message;
      }
    });
  });
}

function drawForm(element, commands, send) {
  const select = element.querySelector('select[name=command]');
  for (const command of commands) {
    const option = new Option(command.name + (command.hazardous ? ' (hazardous)' : ''), command.name);
    option.disabled = !command.allowed;
    if (!command.allowed) option.title = `needs the ${command.role} role`;
    select.add(option);
  }
  const byName = Object.fromEntries(commands.map((c) => [c.name, c]));
  const argsBox = element.querySelector('.c-cmd-args');
  const message = element.querySelector('.c-cmd-message');
  const chosen = () => byName[select.value];
  const drawArgs = () => {
    const command = chosen();
    element.querySelector('.c-cmd-description').textContent = command.description;
    argsBox.replaceChildren(...command.args.map(argumentInput));
    message.textContent = '';
  };
  select.addEventListener('change', drawArgs);
  select.value = commands.find((c) => c.allowed)?.name ?? commands[0].name;
  drawArgs();
  element.querySelector('.c-cmd-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const command = chosen();
    const { args, errors } = readArguments(argsBox, command);
    if (!command.allowed) errors.unshift(`${command.name} needs the ${command.role} role`);
    if (errors.length) {
      message.textContent = errors.join('; ');
      return;
    }
    message.textContent = await send(command, args);
  });
}

function argumentInput(arg) {
  const label = document.createElement('label');
  label.textContent = `${arg.name}${arg.unit ? ` (${arg.unit})` : ''} `;
  label.title = arg.description;
  let input;
  if (arg.enum.length) {
    input = document.createElement('select');
    arg.enum.forEach((name) => input.add(new Option(name, name)));
  } else if (arg.type === 'msgpack') {
    input = document.createElement('textarea');
    input.placeholder = 'JSON, e.g. {"id": "job-1", "command": ["hash-chain"]}';
  } else if (arg.type === 'bytes') {
    input = document.createElement('input');
    input.placeholder = 'octets in hex';
  } else {
    input = document.createElement('input');
    if (INTEGER.has(arg.type) || FLOAT.has(arg.type)) {
      input.type = 'number';
      input.step = INTEGER.has(arg.type) ? '1' : 'any';
      if (arg.minimum !== null) input.min = arg.minimum;
      if (arg.maximum !== null) input.max = arg.maximum;
    }
  }
  input.name = arg.name;
  label.append(input);
  return label;
}

// The arguments as the command takes them, or what is wrong with each.
export function readArguments(box, command) {
  const args = {};
  const errors = [];
  for (const arg of command.args) {
    const text = box.querySelector(`[name="${arg.name}"]`).value.trim();
    if (text === '') {
      errors.push(`${arg.name}: required`);
      continue;
    }
    if (arg.enum.length) {
      args[arg.name] = text;
    } else if (INTEGER.has(arg.type) || FLOAT.has(arg.type)) {
      const value = Number(text);
      if (!Number.isFinite(value) || (INTEGER.has(arg.type) && !Number.isInteger(value))) {
        errors.push(`${arg.name}: not ${INTEGER.has(arg.type) ? 'an integer' : 'a number'}`);
      } else if (arg.minimum !== null && value < arg.minimum) {
        errors.push(`${arg.name}: below the minimum ${arg.minimum}`);
      } else if (arg.maximum !== null && value > arg.maximum) {
        errors.push(`${arg.name}: above the maximum ${arg.maximum}`);
      } else {
        args[arg.name] = value;
      }
    } else if (arg.type === 'msgpack') {
      try {
        args[arg.name] = JSON.parse(text);
      } catch {
        errors.push(`${arg.name}: not JSON`);
      }
    } else {
      args[arg.name] = text;
    }
  }
  return { args, errors };
}

function drawHistory(table, history) {
  const rows = history.slice().reverse().map((entry) => {
    const row = document.createElement('tr');
    const verdict = entry.failure ?? entry.stages.join(', ');
    row.className = entry.failure ? 'is-failed' : entry.stages.includes('completed') ? 'is-done' : '';
    const cells = [entry.sent.toISOString(), entry.account, `${entry.name} ${JSON.stringify(entry.args)}`, verdict];
    for (const text of cells) {
      const cell = document.createElement('td');
      cell.textContent = text;
      row.append(cell);
    }
    return row;
  });
  table.querySelector('tbody').replaceChildren(...rows);
}
