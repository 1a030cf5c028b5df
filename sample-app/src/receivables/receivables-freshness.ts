import type { FreshnessThresholds } from '../../../lib/index.js';

/**
 * How stale the receivables may get under change capture (milliseconds from the oldest pending
 * change): the watcher runs every 200 ms, so a warning means it is behind, an error (and GET
 * /health down) that it is stopped or failing.
 */
export const RECEIVABLES_FRESHNESS: FreshnessThresholds = { warnAfter: 5_000, errorAfter: 60_000 };
