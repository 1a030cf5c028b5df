import { CinemaError } from './cinema.error.js';

/** One projection whose slices were built by another version than the one starting. */
export interface ChangedVersion {
  projection: string;
  /** The version that built its slices (the last one deployed before this one). */
  previous?: string;
  version: string;
  /** Ledger slices built by another version. */
  outdatedSlices: number;
}

/** Startup refused: projections with `onVersionChange: 'fail'` have slices built by another version. */
export class VersionChangedError extends CinemaError {
  constructor(readonly changed: readonly ChangedVersion[]) {
    super(
      `Cinema refuses to start: the definition of ${changed
        .map(
          (c) =>
            `${c.projection} changed (${c.previous ?? 'unknown'} -> ${c.version}, ${c.outdatedSlices} slice(s) built by another version)`,
        )
        .join('; ')}, and its onVersionChange is 'fail'. ` +
        'Rebuild those slices first: start one process of the new code with the environment variable CINEMA_ON_VERSION_CHANGE=rebuild ' +
        "and let its watcher finish (`cinema status` shows no outdated slice), or set onVersionChange: 'rebuild' or 'lazy'.",
    );
  }
}
