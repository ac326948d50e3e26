// Sending commands from the page, for every view that sends them (commanding, jobs): the
// dictionary's commands as the server describes them, confirmation of hazardous ones, and each
// command's PUS 1 verification stages as they come down, matched to it by its request id.
const STAGES = {
  ACCEPTANCE_SUCCESS: 'accepted', ACCEPTANCE_FAILURE: 'FAILED at acceptance',
  START_SUCCESS: 'started', START_FAILURE: 'FAILED at start',
  COMPLETION_SUCCESS: 'completed', COMPLETION_FAILURE: 'FAILED at completion'
};

const GROUND = 0x0100;  // the ground's source id: reports addressed to it

export class Commander {
  constructor(openmct, api, live) {
    this.openmct = openmct;
    this.api = api;
    this.history = [];  // every command this page sent (and the station's, from the archive)
    this.listeners = new Set();  // called when the history changes
    this.commands = null;
    this.byRequest = new Map();
    this.early = new Map();  // reports that came down before the station's answer to the page
    live.packetListeners.add((packet) => this.#report(packet));
    this.#loadHistory();
  }

  // What the station sent before this page opened, from its archive and audit trail.
  async #loadHistory() {
    const archived = await this.api.get('/api/command-history');
    const earlier = archived.map((c) => {
      const stages = c.stages.map((s) => STAGES[s.toUpperCase()] ?? s);
      const entry = {
        name: c.name, args: c.args, sent: new Date(c.sent), account: c.account ?? '?',
        stages: ['sent', ...stages], failure: stages.find((s) => s.startsWith('FAILED')) ?? null
      };
      this.byRequest.set(c.request_id, entry);
      return entry;
    });
    this.history.unshift(...earlier);
    this.#changed();
  }

  async describe() {
    this.commands ??= this.api.get('/api/commands');
    return this.commands;
  }

  // Send a checked command (confirming a hazardous one first); a line saying what became of it.
  async send(name, args) {
    const command = (await this.describe()).find((c) => c.name === name);
    if (command.hazardous && !(await this.#confirmed(command, args))) {
      return 'not sent: not confirmed';
    }
    const entry = { name, args, sent: new Date(), stages: [], failure: null, account: this.api.session.account };
    try {
      const answer = await this.api.post('/api/command', { name, args, confirm: command.hazardous });
      entry.stages.push('sent');
      this.byRequest.set(answer.request_id, entry);
      (this.early.get(answer.request_id) ?? []).forEach((packet) => this.#apply(entry, packet));
      this.early.delete(answer.request_id);
    } catch (error) {
      entry.failure = `refused: ${error.message}`;
    }
    this.history.push(entry);
    this.#changed();
    return entry.failure ?? `sent ${name}`;
  }

  #report(packet) {
    // a report to the bus is about one of its own commands, whatever its request id
    if (!STAGES[packet.name] || packet.dest !== GROUND) return;
    const hex = (n) => n.toString(16).padStart(4, '0');
    const id = hex(packet.v.request_packet_id) + hex(packet.v.request_seq_ctrl);
    const entry = this.byRequest.get(id);
    if (!entry) {
      this.early.set(id, [...(this.early.get(id) ?? []), packet]);
      if (this.early.size > 1000) this.early.delete(this.early.keys().next().value);
      return;
    }
    this.#apply(entry, packet);
    this.#changed();
  }

  #apply(entry, packet) {
    const stage = STAGES[packet.name];
    entry.stages.push(stage);
    if (packet.name.endsWith('FAILURE')) {
      entry.failure = `${stage}: ${packet.names.code ?? packet.v.code} ${packet.v.reason ?? ''}`.trim();
    }
  }

  #changed() {
    this.listeners.forEach((listener) => listener());
  }

  #confirmed(command, args) {
    return new Promise((resolve) => {
      const dialog = this.openmct.overlays.dialog({
        iconClass: 'alert',
        title: 'Hazardous command',
        message: `${command.name} ${JSON.stringify(args)} is HAZARDOUS. Send it?`,
        buttons: [
          { label: 'Send', emphasis: true, callback: () => { dialog.dismiss(); resolve(true); } },
          { label: 'Cancel', callback: () => { dialog.dismiss(); resolve(false); } }
        ],
        onDismiss: () => resolve(false)
      });
    });
  }
}
