import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { bootstrapCinemaWorker } from '../../lib/index.js';
import { AppModule } from './app.module.js';

/**
 * `npm run worker`: a process that works the queued projection jobs of the database at
 * DATABASE_URL (the one the API uses). Start as many as you like, on any machine; a worker that
 * dies has its jobs handed to the others. SIGINT/SIGTERM: jobs in flight roll back and go back
 * to the queue, then the process exits. CINEMA_WORKER_DEBUG=1 shows graphile-worker's debug log.
 */
const databaseUrl = process.env.DATABASE_URL;
const concurrency = Number(process.env.CINEMA_WORKER_CONCURRENCY ?? 2);
if (!databaseUrl) {
  new Logger('Worker').error('Set DATABASE_URL to the database the API process uses: workers share its queue.');
  process.exit(1);
}

bootstrapCinemaWorker(
  AppModule.forRoot({
    databaseUrl,
    // One connection per job in flight, one it may stream from, and some slack.
    poolSize: concurrency * 2 + 2,
    schedule: false,
    board: false,
    // The API process runs the change-capture watcher; workers work queued runs only.
    capture: false,
    cinema: { queue: { worker: true, concurrency } },
  }),
  { logger: process.env.CINEMA_WORKER_DEBUG ? undefined : ['log', 'warn', 'error'] },
).catch((error: Error) => {
  new Logger('Worker').error(`Could not start: ${error.message}`, error.stack);
  process.exit(1);
});
