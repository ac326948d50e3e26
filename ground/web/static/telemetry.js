// The dictionary's telemetry in Open MCT: the object tree the server generates from the flight
// dictionary, history from the station's archive, live values from the page's WebSocket, yellow
// and red limits, and values marked stale when their packet stops coming.
const NAMESPACE = 'payload';
const STALE_AFTER_MS = 5000;  // housekeeping comes every second
const PERIODIC = new Set(['HOUSEKEEPING']);  // packets sent on a period: the others never go stale

export function telemetryPlugin(api, live) {
  return function install(openmct) {
    let tree = null;
    const objects = () => (tree ??= api.get('/api/tree'));

    openmct.types.addType('payload.telemetry', {
      name: 'Telemetry point',
      description: 'A field of a telemetry packet of the payload dictionary',
      cssClass: 'icon-telemetry'
    });
    openmct.types.addType('payload.events', {
      name: 'Event log',
      description: 'The payload events (PUS 5), with their severity',
      cssClass: 'icon-tabular-realtime'
    });
    openmct.objects.addRoot({ namespace: NAMESPACE, key: 'root' });
    openmct.objects.addProvider(NAMESPACE, {
      get: async (identifier) => structuredClone((await objects())[identifier.key])
    });

    const subscribers = new Map();  // point key -> set of callbacks
    live.packetListeners.add((packet) => {
      if (packet.event) {
        const datum = { t: packet.t, ert: packet.ert, name: packet.name, ...packet.event };
        for (const callback of subscribers.get('events') ?? []) {
          callback(datum);
        }
        return;
      }
      for (const [field, value] of Object.entries(packet.v)) {
        for (const callback of subscribers.get(`${packet.name}.${field}`) ?? []) {
          callback({ t: packet.t, ert: packet.ert, value });
        }
      }
    });
    const ours = (domainObject) =>
      domainObject.identifier.namespace === NAMESPACE &&
      (domainObject.type === 'payload.telemetry' || domainObject.type === 'payload.events');

    openmct.telemetry.addProvider({
      supportsRequest: ours,
      supportsSubscribe: ours,
      async request(domainObject, options) {
        const range = `start=${Math.floor(options.start)}&end=${Math.ceil(options.end)}`;
        if (domainObject.type === 'payload.events') {
          const events = await api.get(`/api/events?${range}`);
          return events.filter((event) => passes(event, options.filters));
        }
        const key = encodeURIComponent(domainObject.identifier.key);
        // a plot asks for its envelope: min and max of each of `size` buckets (the server's)
        const envelope = options.strategy === 'minmax' ? `&strategy=minmax&size=${options.size ?? 1000}` : '';
        const columns = await api.get(`/api/history?key=${key}&${range}${envelope}`);
        return columns.t.map((t, i) => ({ t, ert: columns.ert[i], value: columns.value[i] }));
      },
      subscribe(domainObject, callback, options = {}) {
        const key = domainObject.identifier.key;
        const filtered = (datum) => passes(datum, options.filters) && callback(datum);
        if (!subscribers.has(key)) {
          subscribers.set(key, new Set());
        }
        subscribers.get(key).add(filtered);
        return () => subscribers.get(key).delete(filtered);
      }
    });

    openmct.telemetry.addProvider({
      supportsLimits: (domainObject) => Boolean(domainObject.limits),
      getLimitEvaluator: (domainObject) => ({
        evaluate: (datum) => limitOf(datum.value, domainObject.limits)
      }),
      getLimits: (domainObject) => ({
        limits: async () => limitLines(domainObject.limits)
      })
    });

    openmct.telemetry.addProvider({
      supportsStaleness: (domainObject) =>
        domainObject.type === 'payload.telemetry' && PERIODIC.has(domainObject.packet),
      isStale: async (domainObject) => ({ isStale: stale(domainObject), utc: Date.now() }),
      subscribeToStaleness(domainObject, callback) {
        let was = null;
        const check = () => {
          const now = stale(domainObject);
          if (now !== was) {
            was = now;
            callback({ isStale: now, utc: Date.now() });
          }
        };
        const timer = setInterval(check, 1000);
        check();
        return () => clearInterval(timer);
      }
    });

    function stale(domainObject) {
      const last = live.lastPacket[domainObject.packet];
      return !live.status.station || last === undefined || Date.now() - last > STALE_AFTER_MS;
    }
  };
}

// Whether a datum passes Open MCT's filters ({key: {equals: [values]}}), as the events table's
// severity filter sets them.
export function passes(datum, filters) {
  for (const [key, filter] of Object.entries(filters ?? {})) {
    const wanted = filter?.equals;
    if (Array.isArray(wanted) && wanted.length && !wanted.map(String).includes(String(datum[key]))) {
      return false;
    }
  }
  return true;
}

const LEVELS = [
  ['red', 'high', (v, l) => v > l, 'is-limit--upr is-limit--red', 'Red High'],
  ['red', 'low', (v, l) => v < l, 'is-limit--lwr is-limit--red', 'Red Low'],
  ['yellow', 'high', (v, l) => v > l, 'is-limit--upr is-limit--yellow', 'Yellow High'],
  ['yellow', 'low', (v, l) => v < l, 'is-limit--lwr is-limit--yellow', 'Yellow Low']
];

export function limitOf(value, limits) {
  if (typeof value !== 'number') {
    return undefined;
  }
  for (const [level, side, beyond, cssClass, name] of LEVELS) {
    const bound = limits[level][side];
    if (bound !== null && beyond(value, bound)) {
      return { cssClass, name };
    }
  }
  return undefined;
}

function limitLines(limits) {
  const lines = {};
  for (const [kind, level, color] of [['WARNING', 'yellow', 'yellow'], ['CRITICAL', 'red', 'red']]) {
    const { low, high } = limits[level];
    if (low !== null || high !== null) {
      lines[kind] = {};
      if (low !== null) lines[kind].low = { color, value: low };
      if (high !== null) lines[kind].high = { color, value: high };
    }
  }
  return lines;
}
