import 'reflect-metadata';
import { bootstrapCinemaWorker } from '../../../lib/index.js';
import { captureApp, captureHooks } from '../../fixtures/capture.fixture.js';
import { bootApp, testModule } from '../../support/app.js';
import { deferred } from '../../support/deferred.js';

/**
 * A child process for the SIGKILL tests of change capture: the capture application with its
 * watcher, as an application (`CAPTURE_CHILD=app`) or as a queue worker started by
 * `bootstrapCinemaWorker` (`CAPTURE_CHILD=worker`). With `CAPTURE_GATE=1`, its first refresh of
 * the totals prints `entered` once it has read its rows, then never ends: the test kills it there.
 * It prints `ready` once it watches.
 */
if (process.env.CAPTURE_GATE === '1') {
  captureHooks.totalsEntered = deferred();
  captureHooks.totalsGate = deferred();
  void captureHooks.totalsEntered.promise.then(() => process.stdout.write('entered\n'));
}
const worker = process.env.CAPTURE_CHILD === 'worker';
const options = captureApp(
  { url: process.env.DATABASE_URL! },
  { interval: 20 },
  worker ? { worker: true } : undefined,
  'cinema-capture-child',
);
if (worker) {
  await bootstrapCinemaWorker(testModule(options), { logger: ['log', 'error'] });
} else {
  const t = await bootApp(options);
  await t.app.init();
}
process.stdout.write('ready\n');
