import { Controller, Get } from '@nestjs/common';
import { HealthCheck, HealthCheckService, type HealthCheckResult } from '@nestjs/terminus';
import { CinemaHealthIndicator } from '../../../lib/index.js';

@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly cinema: CinemaHealthIndicator,
  ) {}

  /** 200 while every receivables projection is within its `freshness.errorAfter`; 503 naming those past it. */
  @Get()
  @HealthCheck()
  check(): Promise<HealthCheckResult> {
    return this.health.check([() => this.cinema.isHealthy('cinema')]);
  }
}
