import { Catch, HttpStatus, Logger, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { CinemaError, InvalidLensError, ProjectionFailedError } from '../../../lib/index.js';

/**
 * Cinema's typed errors as HTTP answers: a lens the graph cannot apply is the caller's mistake
 * (400); a failed, rolled-back rebuild is ours (500), with its message since it says what failed.
 */
@Catch(CinemaError)
export class CinemaExceptionFilter implements ExceptionFilter<CinemaError> {
  private readonly logger = new Logger(CinemaExceptionFilter.name);

  constructor(private readonly adapterHost: HttpAdapterHost) {}

  catch(error: CinemaError, host: ArgumentsHost): void {
    // Filters only see HTTP here; anything else must keep its error.
    if (host.getType() !== 'http') throw error;
    const status = error instanceof InvalidLensError ? HttpStatus.BAD_REQUEST : HttpStatus.INTERNAL_SERVER_ERROR;
    if (status >= 500) this.logger.error(error.message, error.stack);
    const body: Record<string, unknown> = { statusCode: status, error: error.name, message: error.message };
    if (error instanceof ProjectionFailedError) {
      body.projection = error.projection;
      body.skipped = error.skipped;
    }
    this.adapterHost.httpAdapter.reply(host.switchToHttp().getResponse(), body, status);
  }
}
