/** The channel a run's completion is announced on; the payload is the run id. */
export const RUN_CHANNEL = 'cinema_runs';

/** Advisory lock namespace (first key) of worker processes' liveness locks. */
export const WORKER_LOCK_NAMESPACE = 0x43494e45; // "CINE"

/** A node that waits for a slot of its run's `concurrency`: it has no job until a node of the run finishes. */
export const PARKED = 'parked' as const;

/** The graphile-worker task a queue's jobs are filed under. */
export function taskIdentifier(queue: string): string {
  return `cinema:${queue}`;
}
