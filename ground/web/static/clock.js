// The spacecraft's clock for Open MCT's time conductor: it ticks with the on-board time of the
// latest telemetry, as a mission-time clock does, so realtime views follow the payload's time
// (which on the HIL bench is the scenario's, not the wall clock's).
export class OnboardClock {
  constructor(live) {
    this.key = 'onboard';
    this.name = 'Spacecraft clock';
    this.cssClass = 'icon-clock';
    this.description = 'The on-board time (UTC) of the latest telemetry from the payload';
    this.listeners = new Set();
    this.lastTick = Date.now();
    live.packetListeners.add((packet) => {
      if (packet.t > this.lastTick || this.lastTick - packet.t > 3600 * 1000) {
        this.lastTick = packet.t;
        this.listeners.forEach((listener) => listener(packet.t));
      }
    });
  }

  on(event, listener) {
    if (event === 'tick') this.listeners.add(listener);
    return this;
  }

  off(event, listener) {
    if (event === 'tick') this.listeners.delete(listener);
    return this;
  }

  currentValue() {
    return this.lastTick;
  }
}
