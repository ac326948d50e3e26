// The web mission control: Open MCT with the project's plugins, once the session is known.
import { alarmsPlugin } from '/static/alarms.js';
import { Api } from '/static/api.js';
import { OnboardClock } from '/static/clock.js';
import { accountObjectsPlugin } from '/static/objects.js';
import { Commander } from '/static/commander.js';
import { commandingPlugin } from '/static/commanding.js';
import { filesPlugin } from '/static/files.js';
import { fleetPlugin } from '/static/fleet.js';
import { jobsPlugin } from '/static/jobs.js';
import { Live } from '/static/live.js';
import { packetViewPlugin } from '/static/packet-view.js';
import { rawViewPlugin } from '/static/raw-view.js';
import { replayPlugin } from '/static/replay.js';
import { stacksPlugin } from '/static/stacks.js';
import { stationPlugin } from '/static/station.js';
import { telemetryPlugin } from '/static/telemetry.js';
import { timelinePlugin } from '/static/timeline.js';

const response = await fetch('/api/session', { credentials: 'same-origin' });
if (!response.ok) {
  location.href = '/login';
} else {
  const session = await response.json();
  const api = new Api(session);
  const live = new Live();
  const MINUTE = 60 * 1000;
  openmct.setAssetPath('/openmct');
  openmct.install(openmct.plugins.Espresso());
  openmct.install(openmct.plugins.UTCTimeSystem());
  openmct.time.addClock(new OnboardClock(live));
  openmct.install(openmct.plugins.DisplayLayout());
  openmct.install(openmct.plugins.LADTable());
  openmct.install(openmct.plugins.Filters(['table', 'telemetry.plot.overlay']));
  openmct.install(
    openmct.plugins.Conductor({
      menuOptions: [
        { name: 'Spacecraft time', timeSystem: 'utc', clock: 'onboard', clockOffsets: { start: -15 * MINUTE, end: 15 * 1000 } },
        { name: 'Wall clock', timeSystem: 'utc', clock: 'local', clockOffsets: { start: -15 * MINUTE, end: 15 * 1000 } },
        { name: 'Fixed', timeSystem: 'utc', bounds: { start: Date.now() - 30 * MINUTE, end: Date.now() } }
      ]
    })
  );
  openmct.install(accountObjectsPlugin(api));
  openmct.install(telemetryPlugin(api, live));
  openmct.install(packetViewPlugin(api, live));
  openmct.install(rawViewPlugin(api, live));
  const commander = new Commander(openmct, api, live);
  openmct.install(commandingPlugin(api, live, session, commander));
  openmct.install(jobsPlugin(api, live, session, commander));
  openmct.install(filesPlugin(api, live));
  openmct.install(fleetPlugin(api));
  openmct.install(alarmsPlugin(api, live));
  openmct.install(stacksPlugin(api, commander));
  openmct.install(replayPlugin(live));
  openmct.install(timelinePlugin(api, live));
  openmct.install(stationPlugin(live, session));
  openmct.start();
}
