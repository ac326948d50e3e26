// Always visible, in Open MCT's indicator bar: the station connection, the space link, the next
// link window (from the bus's predictions in housekeeping), who holds command authority and
// COP-1's state (a lockout or another alert turns it to a warning).
export function stationPlugin(live, session) {
  return function install(openmct) {
    const indicator = openmct.indicators.simpleIndicator();
    indicator.iconClass('icon-connectivity');
    let window = 'window unknown';
    live.packetListeners.add((packet) => {
      if (packet.name !== 'HOUSEKEEPING') return;
      const next = packet.v.link_in_s;
      window = next === 0 ? 'window OPEN' : next === 0xffffffff ? 'no window predicted'
        : `next window in ${clock(next)}`;
    });
    const draw = () => {
      const s = live.status;
      indicator.text(
        (live.replaying ? 'REPLAY (not live) | ' : '') +
        `${s.station ? 'station connected' : 'STATION LOST'} | link ${s.link_up ? 'UP' : 'DOWN'} | ` +
        `${window} | authority ${s.authority ?? 'free'} | COP-1 ${s.cop1 || '?'} | ` +
        `${session.account} (${session.role})`
      );
      const cop1ok = Boolean(s.cop1) && !/initial|suspended/.test(s.cop1);
      indicator.statusClass(s.station && s.link_up && cop1ok ? 's-status-on' : 's-status-warning');
      indicator.description(s.why || 'the ground station and the space link');
    };
    live.statusListeners.add(draw);
    setInterval(draw, 1000);
    draw();
    openmct.indicators.add(indicator);
  };
}

function clock(seconds) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${Math.floor(seconds / 3600)}:${pad(Math.floor(seconds / 60) % 60)}:${pad(seconds % 60)}`;
}
