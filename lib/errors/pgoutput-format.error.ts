import { CinemaError } from './cinema.error.js';

/**
 * A message read from the replication slot is not the `pgoutput` protocol Cinema reads (a newer
 * protocol version, or binary tuples). The slot is not advanced: its changes are read again.
 */
export class PgoutputFormatError extends CinemaError {
  constructor(detail: string) {
    super(
      `Logical change capture cannot read a pgoutput message: ${detail}. The slot keeps its changes; report the PostgreSQL version if it persists.`,
    );
  }
}
