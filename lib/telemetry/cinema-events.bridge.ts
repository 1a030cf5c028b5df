import { Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { RunTelemetry } from './run-telemetry.js';

/** What the bridge needs of `@nestjs/event-emitter`'s `EventEmitter2`. */
interface Emitter {
  emit(event: string, payload: unknown): boolean;
}

/**
 * Emits Cinema's events (`CINEMA_EVENTS`) through `@nestjs/event-emitter` when the application
 * imports `EventEmitterModule.forRoot()`; otherwise does nothing. The package is an optional
 * peer: it is loaded only to find its `EventEmitter2` provider, never required.
 */
@Injectable()
export class CinemaEventsBridge implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('Cinema');
  private stop?: () => void;

  constructor(
    private readonly telemetry: RunTelemetry,
    private readonly moduleRef: ModuleRef,
  ) {}

  async onModuleInit(): Promise<void> {
    const emitter = await this.findEmitter();
    if (!emitter) return;
    this.stop = this.telemetry.listen(({ name, payload }) => {
      try {
        emitter.emit(name, payload);
      } catch (error) {
        // A listener that throws synchronously: its failure, not the run's.
        this.logger.error(`A listener of ${name} failed: ${(error as Error)?.message ?? String(error)}`);
      }
    });
  }

  onModuleDestroy(): void {
    this.stop?.();
  }

  private async findEmitter(): Promise<Emitter | undefined> {
    let token: unknown;
    try {
      // A variable, so that bundlers and the compiler do not require the optional package.
      const name = '@nestjs/event-emitter';
      token = ((await import(name)) as { EventEmitter2?: unknown }).EventEmitter2;
    } catch {
      return undefined;
    }
    if (!token) return undefined;
    try {
      return this.moduleRef.get<Emitter>(token as never, { strict: false });
    } catch {
      return undefined;
    }
  }
}
