// The page's one WebSocket: every packet the station passes on, the station's state (connection,
// space link, command authority) and files, fanned out to whoever listens. It reconnects when
// the server or the station is lost; the history then comes from the archive.
export class Live {
  constructor() {
    this.packetListeners = new Set();
    this.statusListeners = new Set();
    this.fileListeners = new Set();  // files the station received from the payload
    this.alarmListeners = new Set();  // alarms raised, changed, cleared
    this.replayListeners = new Set();  // the page's replay: playing, paused, ended, stopped
    this.replaying = false;
    this.status = { station: false, link_up: false, authority: null, why: 'connecting' };
    this.lastPacket = {};  // packet name -> ground time (ms) it last arrived
    this.#open();
  }

  #open() {
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const socket = new WebSocket(`${scheme}://${location.host}/ws`);
    this.socket = socket;
    socket.onmessage = (event) => {
      for (const message of JSON.parse(event.data)) {
        this.#dispatch(message);
      }
    };
    socket.onclose = () => {
      this.#setStatus({ station: false, why: 'lost the web server; reconnecting' });
      setTimeout(() => this.#open(), 1000);
    };
  }

  #dispatch(message) {
    if (message.op === 'tm') {
      this.lastPacket[message.name] = Date.now();
      for (const listener of this.packetListeners) {
        listener(message);
      }
    } else if (message.op === 'status') {
      this.#setStatus(message);
    } else if (message.op === 'replay') {
      if (message.state !== 'refused') this.replaying = message.state !== 'stopped';
      this.replayListeners.forEach((listener) => listener(message));
      this.statusListeners.forEach((listener) => listener(this.status));
    } else if (message.op === 'alarm' || message.op === 'alarm-cleared') {
      this.alarmListeners.forEach((listener) => listener(message));
    } else if (message.op === 'file') {
      this.fileListeners.forEach((listener) => listener(message));
    }
  }

  // A request to the server over the socket (a replay's).
  request(message) {
    this.socket.send(JSON.stringify(message));
  }

  #setStatus(changes) {
    this.status = { ...this.status, ...changes };
    for (const listener of this.statusListeners) {
      listener(this.status);
    }
  }
}
