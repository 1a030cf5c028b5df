import type { LoggerService } from '@nestjs/common';

/** A Nest logger that keeps the warnings, log and debug lines it is given (tests assert on them) and drops the rest. */
export class CapturingLogger implements LoggerService {
  readonly warnings: string[] = [];
  readonly logs: string[] = [];
  readonly debugs: string[] = [];
  log(message: unknown) {
    this.logs.push(String(message));
  }
  debug(message: unknown) {
    this.debugs.push(String(message));
  }
  error() {}
  warn(message: unknown) {
    this.warnings.push(String(message));
  }
}
