import { Logger, type INestApplicationContext, type ShutdownSignal } from '@nestjs/common';
import type { NestApplicationContextOptions } from '@nestjs/common/interfaces/nest-application-context-options.interface.js';
import { NestFactory } from '@nestjs/core';
import { ChangeWatcher } from './capture/change.watcher.js';
import { CINEMA_MODULE_OPTIONS } from './cinema.constants.js';
import { QueueEngine } from './engines/queue/queue.engine.js';
import { InvalidCinemaOptionsError } from './errors/invalid-options.error.js';
import type { ResolvedCinemaOptions } from './interfaces/cinema-options.interface.js';

export interface CinemaWorkerOptions extends NestApplicationContextOptions {
  /**
   * Signals that stop the worker: jobs in flight roll back and go back to the queue at no
   * attempt's cost, the pools close, then Nest re-raises the signal (the process exits).
   * @default ['SIGINT', 'SIGTERM']
   */
  signals?: (ShutdownSignal | string)[];
}

export interface CinemaWorker {
  app: INestApplicationContext;
  /** Settles once the worker has stopped (a signal, or `app.close()`): its jobs are back in the queue. */
  stopped: Promise<void>;
}

/**
 * Starts a worker process for the queue engine: an application context of `module` (whose
 * `CinemaModule` sets `queue: { worker: true }`), with shutdown hooks on `signals`. Resolves
 * once it works its queues. When that module also sets `capture`, the worker runs the
 * change-capture watcher in its own process (the refreshes run inline there, not as queued
 * jobs) and records the freshness ledger of the queued nodes it works; several workers split
 * the watcher's work per projection. Web processes can then set `capture: { watch: false }`.
 *
 * ```ts
 * const { stopped } = await bootstrapCinemaWorker(AppModule);
 * await stopped;
 * ```
 */
export async function bootstrapCinemaWorker(module: unknown, options: CinemaWorkerOptions = {}): Promise<CinemaWorker> {
  const { signals = ['SIGINT', 'SIGTERM'], ...contextOptions } = options;
  const app = await NestFactory.createApplicationContext(module as never, { abortOnError: false, ...contextOptions });
  const cinema = app.get<ResolvedCinemaOptions>(CINEMA_MODULE_OPTIONS, { strict: false });
  if (!cinema.queue?.worker) {
    await app.close();
    throw new InvalidCinemaOptionsError(
      'queue.worker',
      'bootstrapCinemaWorker needs a worker: set CinemaModule.forRoot({ queue: { worker: true } }) in the module it starts',
    );
  }
  const engine = app.get(QueueEngine, { strict: false });
  app.enableShutdownHooks(signals);
  const watching = app.get(ChangeWatcher, { strict: false }).watching ? ', watching changes' : '';
  new Logger('CinemaWorker').log(
    `Working queued projections (queues ${cinema.queue.queues.join(', ')}, concurrency ${cinema.queue.concurrency}${watching}, pid ${process.pid})`,
  );
  return { app, stopped: engine.stopped };
}
