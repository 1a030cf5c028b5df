import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { HealthController } from './health.controller.js';

/** GET /health through `@nestjs/terminus`, with Cinema's freshness indicator (CinemaModule provides it). */
@Module({
  imports: [TerminusModule.forRoot()],
  controllers: [HealthController],
})
export class HealthModule {}
