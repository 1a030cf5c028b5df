import type { LoggerService } from '@nestjs/common';

/** A Nest logger that keeps the warnings it is given (tests assert on them) and drops the rest. */
export class CapturingLogger implements LoggerService {
  readonly warnings: string[] = [];
  log() {}
  error() {}
  warn(message: unknown) {
    this.warnings.push(String(message));
  }
}
