import { Module } from '@nestjs/common';
import { GraphCommand } from './commands/graph.command.js';
import { PlanCommand } from './commands/plan.command.js';
import { RefreshCommand } from './commands/refresh.command.js';
import { RunsCommand, RunsListCommand, RunsRetryCommand, RunsShowCommand } from './commands/runs.command.js';
import { StatusCommand } from './commands/status.command.js';

/**
 * The `cinema` commands (graph, plan, refresh, status, runs) for `nest-commander`. Import it
 * beside the application's own module, so the commands see its projections and data sources:
 *
 * @example
 * // cli.ts
 * @Module({ imports: [AppModule, CinemaCommandModule] })
 * class CliModule {}
 * await runCinemaCli(CliModule);
 */
@Module({
  providers: [GraphCommand, PlanCommand, RefreshCommand, StatusCommand, RunsCommand, RunsListCommand, RunsShowCommand, RunsRetryCommand],
})
export class CinemaCommandModule {}
