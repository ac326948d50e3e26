// The alarm list: every value beyond its yellow or red limit, kept by the server until an operator
// acknowledges it (even after the value returns), or hidden for a while when shelved.
import { addTypeWithView } from '/static/views.js';

export function alarmsPlugin(api, live) {
  return function install(openmct) {
    addTypeWithView(openmct, {
      type: 'payload.alarms',
      name: 'Alarms',
      description: 'Values beyond their limits, until acknowledged',
      cssClass: 'icon-alert-triangle',
      view: () => {
        let listener = null;
        return {
          async show(element) {
            element.classList.add('c-alarms');
            element.innerHTML = `<table class="c-alarms-table"><thead><tr><th>Point</th><th>Level</th>
              <th>Value</th><th>Out since (on board, UTC)</th><th>State</th><th></th></tr></thead>
              <tbody></tbody></table><p class="c-alarms-message" role="alert"></p>`;
            const alarms = new Map();
            const message = element.querySelector('.c-alarms-message');
            const act = async (action, key, body = {}) => {
              try {
                await api.post(`/api/alarms/${action}`, { key, ...body });
                message.textContent = '';
              } catch (error) {
                message.textContent = error.message;
              }
            };
            const draw = () => drawAlarms(element, [...alarms.values()], act);
            listener = (change) => {
              if (change.op === 'alarm-cleared') alarms.delete(change.key);
              else alarms.set(change.key, change);
              draw();
            };
            live.alarmListeners.add(listener);
            for (const alarm of await api.get('/api/alarms')) {
              if (!alarms.has(alarm.key)) alarms.set(alarm.key, alarm);
            }
            draw();
          },
          destroy() {
            live.alarmListeners.delete(listener);
          }
        };
      }
    });
  };
}

function drawAlarms(element, alarms, act) {
  const rows = alarms.filter((a) => !a.shelved).map((alarm) => {
    const row = document.createElement('tr');
    row.dataset.alarm = alarm.key;
    row.className = `is-limit--${alarm.level}${alarm.acknowledged_by ? ' is-acknowledged' : ''}`;
    const state = [alarm.returned ? 'returned within limits' : 'out of limits',
      alarm.acknowledged_by ? `acknowledged by ${alarm.acknowledged_by}` : 'unacknowledged'].join(', ');
    for (const text of [alarm.key, alarm.level.toUpperCase(), alarm.value,
      new Date(alarm.first).toISOString(), state]) {
      const cell = document.createElement('td');
      cell.textContent = text;
      row.append(cell);
    }
    const actions = document.createElement('td');
    for (const [label, action, body] of [['Acknowledge', 'acknowledge', {}], ['Shelve 30 min', 'shelve', { minutes: 30 }]]) {
      const button = document.createElement('button');
      button.textContent = label;
      button.onclick = () => act(action, alarm.key, body);
      actions.append(button);
    }
    row.append(actions);
    return row;
  });
  element.querySelector('tbody').replaceChildren(...rows);
}
