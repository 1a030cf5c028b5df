import { Module } from '@nestjs/common';
import { CinemaModule } from '../../../lib/index.js';
import { InvoicesService } from '../billing/invoices.service.js';
import { Accounts } from './accounts.projection.js';
import { AccountsReceivable } from './accounts-receivable.projection.js';
import { Invoices } from './invoices.projection.js';
import { OrgReceivables } from './org-receivables.projection.js';
import { ReceivablesController } from './receivables.controller.js';
import { ReceivablesScheduler } from './receivables.scheduler.js';

/** The receivables projections, their HTTP endpoints (with invoice writes and freshness) and their nightly rebuild. */
@Module({
  imports: [CinemaModule.forFeature([Accounts, Invoices, AccountsReceivable, OrgReceivables])],
  controllers: [ReceivablesController],
  providers: [ReceivablesScheduler, InvoicesService],
  exports: [ReceivablesScheduler],
})
export class ReceivablesModule {}
