import { CinemaQueueMigration1764200000000 } from './queue.schema.js';
import { CinemaQueueMigration1764300000000 } from './queue.schema.v2.js';
import { CinemaQueueMigration1764700000000 } from './queue.schema.v3.js';
import { CinemaQueueMigration1765000000000 } from './queue.schema.v4.js';

/** Every migration of the queue engine's `cinema` schema, in order: spread it into a data source's `migrations`. */
export const CINEMA_QUEUE_MIGRATIONS = [
  CinemaQueueMigration1764200000000,
  CinemaQueueMigration1764300000000,
  CinemaQueueMigration1764700000000,
  CinemaQueueMigration1765000000000,
] as const;
