import { Catch, HttpStatus, Logger, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { CinemaError } from '../errors/cinema.error.js';
import { InvalidLensError } from '../errors/invalid-lens.error.js';
import { InvalidCinemaOptionsError } from '../errors/invalid-options.error.js';
import { ProjectionFailedError, ProjectionTimeoutError } from '../errors/projection-failed.error.js';
import { RunNotRetryableError, UnknownRunError } from '../errors/queue.error.js';
import { QueuedRunTimeoutError } from '../errors/queued-run-timeout.error.js';
import { RunWaitInterruptedError } from '../errors/run-wait-interrupted.error.js';

/**
 * Cinema's typed errors as HTTP answers, instead of Nest's bare 500:
 * - a lens or per-call option the graph cannot apply is the caller's mistake: 400;
 * - a run that does not exist: 404; a run that cannot be retried in its state: 409;
 * - a rebuild that timed out, a queued run not finished in time, a wait cut short by shutdown:
 *   503 (the previous slice is intact; try again later);
 * - a rebuild that failed and was rolled back, or any other Cinema error: 500.
 * The body carries the error's name and message (which name the projection), and for a failed
 * rebuild the projection and the projections it kept from running. Register it with
 * `{ provide: APP_FILTER, useClass: CinemaExceptionFilter }` or `app.useGlobalFilters(...)`.
 */
@Catch(CinemaError)
export class CinemaExceptionFilter implements ExceptionFilter<CinemaError> {
  private readonly logger = new Logger('CinemaExceptionFilter');

  constructor(private readonly adapterHost: HttpAdapterHost) {}

  catch(error: CinemaError, host: ArgumentsHost): void {
    // Only HTTP answers are shaped here; RPC and WebSocket handlers keep their own handling.
    if (host.getType() !== 'http') throw error;
    const status = statusOf(error);
    if (status >= 500) this.logger.error(error.message, error.stack);
    const body: Record<string, unknown> = { statusCode: status, error: error.name, message: error.message };
    if (error instanceof ProjectionFailedError) {
      body.projection = error.projection;
      body.skipped = error.skipped;
    }
    this.adapterHost.httpAdapter.reply(host.switchToHttp().getResponse(), body, status);
  }
}

/** The HTTP status a Cinema error answers with. */
export function statusOf(error: CinemaError): number {
  if (error instanceof InvalidLensError || error instanceof InvalidCinemaOptionsError) return HttpStatus.BAD_REQUEST;
  if (error instanceof UnknownRunError) return HttpStatus.NOT_FOUND;
  if (error instanceof RunNotRetryableError) return HttpStatus.CONFLICT;
  if (error instanceof ProjectionTimeoutError || error instanceof QueuedRunTimeoutError || error instanceof RunWaitInterruptedError) {
    return HttpStatus.SERVICE_UNAVAILABLE;
  }
  return HttpStatus.INTERNAL_SERVER_ERROR;
}
