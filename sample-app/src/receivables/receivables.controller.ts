import { BadRequestException, Body, Controller, Get, HttpCode, Post, Query } from '@nestjs/common';
import { CinemaService, type PlanStep, type ProjectionFreshness } from '../../../lib/index.js';
import { InvoicesService, type WrittenInvoice } from '../billing/invoices.service.js';
import { summarizeRun, type RunSummary } from '../projections/run-summary.js';
import { AccountsReceivable } from './accounts-receivable.projection.js';
import { NewInvoicePipe, type NewInvoice } from './new-invoice.pipe.js';
import { OrgId } from './org-id.param.js';
import { OrgReceivables } from './org-receivables.projection.js';

@Controller()
export class ReceivablesController {
  constructor(
    private readonly cinema: CinemaService,
    private readonly invoices: InvoicesService,
  ) {}

  /**
   * Writes an invoice and returns at once (201): no refresh is called here. Change capture marks
   * the org's receivables dirty and the watcher refreshes them (see GET /orgs/:orgId/freshness).
   */
  @Post('orgs/:orgId/invoices')
  createInvoice(@OrgId() orgId: number, @Body(NewInvoicePipe) invoice: NewInvoice): Promise<WrittenInvoice> {
    return this.invoices.create(orgId, invoice);
  }

  /** How fresh the org's receivables are: pending changes, lag, and the worst status of the two projections. */
  @Get('orgs/:orgId/freshness')
  async freshness(
    @OrgId() orgId: number,
  ): Promise<{ orgId: number; status: ProjectionFreshness['status']; fresh: boolean; projections: ProjectionFreshness[] }> {
    const projections = [
      await this.cinema.freshness(AccountsReceivable, { orgId }),
      await this.cinema.freshness(OrgReceivables, { orgId }),
    ];
    const status = projections.some((p) => p.status === 'error') ? 'error' : projections.some((p) => p.status === 'warn') ? 'warn' : 'pass';
    // Fresh: every change written so far is in both tables (nothing pending for the org).
    return { orgId, status, fresh: projections.every((p) => p.pendingChanges === 0), projections };
  }

  /** The org's receivables, rebuilt from the billing tables first: always current, one org's cost. */
  @Get('orgs/:orgId/receivables')
  receivables(@OrgId() orgId: number): Promise<AccountsReceivable[]> {
    return this.cinema.project(AccountsReceivable, { orgId });
  }

  /**
   * Rebuilds the org's whole slice (receivables and the daily aging view) and reports the run.
   * `?engine=queue` runs it as jobs on the durable queue (`npm run worker` processes work them).
   */
  @Post('orgs/:orgId/refresh')
  @HttpCode(200)
  async refresh(@OrgId() orgId: number, @Query('engine') engine?: string): Promise<RunSummary> {
    if (engine !== undefined && engine !== 'inline' && engine !== 'queue') {
      throw new BadRequestException(`engine is 'inline' or 'queue', got "${engine}"`);
    }
    // async: the handle carries the run id and per-projection numbers besides the rows.
    const run = await this.cinema.project(OrgReceivables, { orgId }, { async: true, engine });
    const rows = await run.result;
    return summarizeRun(run, rows.length);
  }

  /** What a refresh with this lens (`?orgId=42`) would run; Cinema validates the query's keys. */
  @Get('receivables/plan')
  async plan(
    @Query() lens: Record<string, unknown>,
  ): Promise<{ projection: string; lens: Record<string, unknown>; steps: PlanStep[]; text: string }> {
    const plan = await this.cinema.plan(OrgReceivables, { ...lens });
    return { projection: plan.projection, lens: plan.lens, steps: plan.steps, text: plan.toString() };
  }
}
