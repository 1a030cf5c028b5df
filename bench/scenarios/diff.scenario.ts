import { Logger, type Type } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import type { CinemaService } from '../../lib/index.js';
import { Account } from '../../sample-app/src/billing/account.entity.js';
import { Invoice } from '../../sample-app/src/billing/invoice.entity.js';
import { Accounts } from '../../sample-app/src/receivables/accounts.projection.js';
import { AccountsReceivable } from '../../sample-app/src/receivables/accounts-receivable.projection.js';
import { Invoices } from '../../sample-app/src/receivables/invoices.projection.js';
import { bootBenchApp } from '../apps/bench-app.js';
import { AccountsReceivableDiff, CREATE_ACCOUNTS_RECEIVABLE_DIFF } from '../fixtures/receivables-diff.fixture.js';
import { fingerprintSql } from '../fixtures/receivables.queries.js';
import { find, measure, median, pair, round2, scenarioResult, target, type Contender } from '../harness.js';
import type { ContenderResult } from '../results.interface.js';
import type { Scenario } from '../scenario.interface.js';

const DEFINITION = `\`AccountsReceivable\` refreshed after 1% of the invoices changed (\`amount_cents + 1\` on the
invoices whose id ends in the round's two digits), written the default way (\`replace\`: delete the
slice, insert every derived row) and with \`@Projection({ write: 'diff' })\` (delete, insert and
update only the rows that differ). The diff twin is a copy of the sample's projection (same query,
a table \`LIKE accounts_receivable INCLUDING ALL\`) in a second app on the same database.

- **one org**: \`project(P, { orgId })\` after 1% of that org's 3,000 invoices changed; the org changes
  every round. 100 rounds: a refresh takes about 4 ms and single samples on this machine vary by a
  third, so with 20 rounds the ratio of the medians moved by more than the target allows from run
  to run (0.88x, 1.05x and 1.11x in the three documented runs before).
- **whole table**: \`project(P, {})\` after 1% of all invoices changed; \`VACUUM\` of the table first.

Before each measured refresh (untimed): the contender's table is brought up to date, the change is
written, then \`CHECKPOINT\`, so that every refresh pays its full-page images the same way. WAL is
\`pg_wal_lsn_diff\` of \`pg_current_wal_insert_lsn()\` after and before the refresh (the insert
position: with \`synchronous_commit = off\` \`pg_current_wal_lsn()\` lags behind it; the server's whole
WAL, so background work counts too); its median is reported per contender.`;

interface Side {
  id: string;
  label: string;
  cinema: () => CinemaService;
  projection: Type<unknown>;
  table: string;
}

/** Scenario: write only what changed against replacing the slice. */
export const diffScenario: Scenario = {
  id: 'diff',
  title: "11. Write only what changed (write: 'diff')",
  usesBillingApp: true,
  async run(ctx) {
    const began = performance.now();
    const billing = await ctx.billing();
    const { dataSource } = billing;
    await dataSource.query(CREATE_ACCOUNTS_RECEIVABLE_DIFF);
    const url = await ctx.database('cinema_bench');
    // Errors only: the sample app holds the 'default' data source name too, and @nestjs/typeorm warns about it.
    Logger.overrideLogger(['error']);
    const twin = await bootBenchApp({
      dataSources: [{ url, entities: [Account, Invoice] }],
      projections: [Accounts, Invoices, AccountsReceivableDiff],
    }).finally(() => Logger.overrideLogger(['error', 'warn']));
    try {
      const sides: Side[] = [
        {
          id: 'replace',
          label: "`write: 'replace'` (default)",
          cinema: () => billing.cinema,
          projection: AccountsReceivable,
          table: 'accounts_receivable',
        },
        {
          id: 'diff',
          label: "`write: 'diff'`",
          cinema: () => twin.cinema,
          projection: AccountsReceivableDiff,
          table: 'accounts_receivable_diff',
        },
      ];
      await twin.cinema.project(AccountsReceivableDiff, {}, { fetch: false });
      await billing.cinema.project(AccountsReceivable, {}, { fetch: false });
      await checkSameRows(dataSource);

      const orgOf = (round: number) => 1 + ((round * 389) % ctx.sizes.orgs);
      const org = ctx.rounds({ full: 100, quick: 8 });
      const orgResults = await measure(
        ctx,
        `${this.title}, one org`,
        sides.map((side) => contender(dataSource, side, 'org', (round) => ({ orgId: orgOf(round) }))),
        org,
      );
      const whole = ctx.rounds({ full: 7, quick: 5 });
      const wholeResults = await measure(
        ctx,
        `${this.title}, whole table`,
        sides.map((side) => contender(dataSource, side, 'all', () => ({}))),
        whole,
      );
      for (const side of sides) await side.cinema().project(side.projection, {}, { fetch: false });
      await checkSameRows(dataSource);

      const results = [...orgResults, ...wholeResults];
      const wal = (id: string) => median(find(results, id).extras!.walBytes);
      const metrics = results.flatMap((result) => [
        { label: `${result.id}: WAL per refresh (median)`, value: Math.round(wal(result.id)), unit: 'bytes' },
        { label: `${result.id}: rows written (median)`, value: median(result.extras!.written), unit: 'rows' },
      ]);
      return scenarioResult(this, DEFINITION, began, {
        rounds: org.rounds,
        warmups: org.warmups,
        contenders: results,
        pairs: [pair(results, 'diff-org', 'replace-org'), pair(results, 'diff-all', 'replace-all')],
        metrics,
        targets: [
          target('one org: WAL of replace / WAL of diff', wal('replace-org') / wal('diff-org'), 'at-least', 3, 'x'),
          target('one org: time of diff / time of replace', ratio(orgResults, 'diff-org', 'replace-org'), 'at-most', 1, 'x'),
        ],
        notes: [
          `whole table: WAL of replace / WAL of diff ${round2(wal('replace-all') / wal('diff-all'))}x, ` +
            `time of diff / time of replace ${round2(ratio(wholeResults, 'diff-all', 'replace-all'))}x (${whole.rounds} rounds)`,
        ],
      });
    } finally {
      await twin.close();
    }
  },
};

function ratio(results: readonly ContenderResult[], a: string, b: string): number {
  return find(results, a).medianMs / find(results, b).medianMs;
}

/**
 * One side on one scope: before each round (untimed) its table catches up, 1% of the scope's
 * invoices change, and a checkpoint; then the refresh, timed, with the WAL it wrote.
 */
function contender(dataSource: DataSource, side: Side, scope: 'org' | 'all', lensOf: (round: number) => { orgId?: number }): Contender {
  return {
    id: `${side.id}-${scope}`,
    label: `${side.label}, ${scope === 'org' ? 'one org' : 'whole table'}`,
    prepare: async (round) => {
      const lens = lensOf(round);
      await side.cinema().project(side.projection, lens, { fetch: false });
      await dataSource.query(
        `UPDATE invoices SET amount_cents = amount_cents + 1 WHERE id % 100 = $2 AND ($1::int IS NULL OR org_id = $1)`,
        [lens.orgId ?? null, round % 100],
      );
      if (scope === 'all') await dataSource.query(`VACUUM ${side.table}`);
      await dataSource.query('CHECKPOINT');
    },
    run: async (round) => {
      const [{ lsn: before }] = await dataSource.query(`SELECT pg_current_wal_insert_lsn()::text AS lsn`);
      const started = performance.now();
      const run = await side.cinema().project(side.projection, lensOf(round), { async: true, fetch: false });
      await run.result;
      const ms = performance.now() - started;
      const [{ bytes }] = await dataSource.query(`SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), $1::pg_lsn)::float8 AS bytes`, [
        before,
      ]);
      const node = run.nodes.find((n) => n.projection === side.projection.name)!;
      return { ms, extras: { walBytes: bytes, written: node.written, deleted: node.deleted } };
    },
  };
}

/** Both tables must hold the same rows. */
async function checkSameRows(dataSource: DataSource): Promise<void> {
  const [replace] = await dataSource.query(fingerprintSql('accounts_receivable', ''));
  const [diff] = await dataSource.query(fingerprintSql('accounts_receivable', '_diff'));
  if (JSON.stringify(replace) !== JSON.stringify(diff) || replace.rows === 0) {
    throw new Error(`replace and diff disagree: ${JSON.stringify({ replace, diff })}`);
  }
}
