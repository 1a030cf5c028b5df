import type { Logger } from '@nestjs/common';
import type { Logger as GraphileLogger } from 'graphile-worker';

/** graphile-worker's log lines, through Cinema's logger. */
export function graphileLogger(graphile: typeof import('graphile-worker'), logger: Logger): GraphileLogger {
  return new graphile.Logger(() => (level, message, meta) => {
    // A failed attempt of Cinema's own task is logged once, by Cinema, with the projection's name.
    const ours = (meta as { failure?: boolean; job?: { task_identifier?: string } } | undefined)?.job?.task_identifier?.startsWith(
      'cinema:',
    );
    if (level === 'error' && ours && (meta as { failure?: boolean }).failure) logger.debug(message);
    else if (level === 'error') logger.error(message);
    else if (level === 'warning') logger.warn(message);
    else logger.debug(message);
  });
}
