import type { CinemaRun, NodeReport } from './run.interface.js';

/** The names of the events Cinema emits through `@nestjs/event-emitter` (when the application imports it). */
export const CINEMA_EVENTS = {
  /** A run started in this process, or was queued from it: `CinemaRunEvent`. */
  runStarted: 'cinema.run.started',
  /** A run this process started or queued succeeded: `CinemaRunEvent`. */
  runSucceeded: 'cinema.run.succeeded',
  /** A run this process started or queued failed: `CinemaRunEvent` (`run.error` says why). */
  runFailed: 'cinema.run.failed',
  /** A projection's slice was rebuilt and committed in this process: `ProjectionRefreshedEvent`. */
  projectionRefreshed: 'cinema.projection.refreshed',
  /** Change capture found slices of a projection dirty: `SliceDirtiedEvent`. */
  sliceDirtied: 'cinema.slice.dirtied',
} as const;

/** Payload of `cinema.run.*`. */
export interface CinemaRunEvent {
  run: CinemaRun;
}

/** Payload of `cinema.projection.refreshed`. */
export interface ProjectionRefreshedEvent {
  /** The run it belongs to (a change-capture refresh has none). */
  runId?: string;
  projection: string;
  /** The lens it was rebuilt under, as the run shows it. */
  lens: Record<string, unknown>;
  engine: 'inline' | 'queue' | 'capture';
  /** Rows deleted and written, the write path, the duration. */
  report: NodeReport;
}

/** Payload of `cinema.slice.dirtied`. */
export interface SliceDirtiedEvent {
  projection: string;
  /** The dirty slices (`[]`: the whole projection). */
  slices: readonly Record<string, unknown>[];
  /** How many change marks named them. */
  marks: number;
}
