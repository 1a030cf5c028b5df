import { CinemaError } from './cinema.error.js';

/** The queue engine's tables are missing from the queue's database. */
export class QueueNotInstalledError extends CinemaError {
  constructor(
    readonly dataSource: string,
    readonly missing = 'CinemaQueueMigration1764200000000',
  ) {
    super(
      `The queue engine's tables ("cinema" schema) are missing or out of date on data source "${dataSource}" (${missing} was not run). ` +
        `Add CINEMA_QUEUE_MIGRATIONS (exported by the library: every queue migration, in order) to that data source's migrations and run them.`,
    );
  }
}

/** No queued run has this id. */
export class UnknownRunError extends CinemaError {
  constructor(readonly runId: string) {
    super(`No run ${runId} is recorded in this process or in the queue's "cinema"."runs" table.`);
  }
}

/** Only a failed queued run can be retried. */
export class RunNotRetryableError extends CinemaError {
  constructor(
    readonly runId: string,
    readonly status: string,
  ) {
    super(`Run ${runId} is ${status}: only a failed run can be retried (await it, or start a new one).`);
  }
}

/** A worker's attempt at a node lost it to another worker (it was presumed dead): the attempt rolls back. */
export class NodeTakenOverError extends CinemaError {
  constructor(
    readonly projection: string,
    readonly runId: string,
  ) {
    super(
      `The queue handed ${projection} of run ${runId} to another worker meanwhile; this attempt is rolled back and its work is not kept.`,
    );
  }
}
