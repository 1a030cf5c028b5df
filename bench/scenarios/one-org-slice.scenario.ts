import type { DataSource } from 'typeorm';
import type { CinemaService } from '../../lib/index.js';
import { AccountsReceivable } from '../../sample-app/src/receivables/accounts-receivable.projection.js';
import { find, measure, pair, round3, scenarioResult, target, type Contender } from '../harness.js';
import {
  REFRESH_ACCOUNTS_RECEIVABLE,
  REFRESH_ACCOUNTS_RECEIVABLE_CONCURRENTLY,
  SLICE_SQL,
  SLICE_WARM_SQL,
  fingerprintSql,
} from '../fixtures/receivables.queries.js';
import type { Scenario } from '../scenario.interface.js';

const DEFINITION = `One org's slice of \`AccountsReceivable\` (100 accounts, 3,000 invoices: 0.1% of the data at
full scale) refreshed in the booted sample app. The org changes every round (the same org for
every contender of a round). \`Accounts\` and \`Invoices\` are virtual, so Cinema runs one
transaction for this one table, like the hand-written SQL.

- **cinema**: \`cinema.project(AccountsReceivable, { orgId }, { fetch: false })\`.
- **hand-sql**: \`BEGIN; DELETE FROM accounts_receivable WHERE org_id = $1; INSERT INTO
  accounts_receivable SELECT ... WHERE org_id = $1; COMMIT\` through the app's TypeORM data source.
- **refresh** / **refresh-concurrently**: \`REFRESH MATERIALIZED VIEW [CONCURRENTLY]\` of the
  equivalent view (same query, same indexes; the only way a view can refresh one org is all orgs).
- **cinema-rows** / **hand-sql-rows**: the same two, also reading the org's rows back as entities
  (\`project()\`'s default; \`repository.findBy({ orgId })\` by hand).

Before measuring, the rows each contender writes are checked to be identical. Before each run of
the four slice contenders, the round's org is read (untimed) as the refresh reads it: the first
contender of a round would otherwise pay alone for bringing the org's pages into memory (2–3 ms
of a 5 ms refresh on this machine), and the rounds' A B C / C B A order always made the same
contenders first.

**Back to back.** Then cinema and hand-sql alone, in rounds of their own (A B / B A, the same
untimed read of the org first, no REFRESH between): the one-org figure above comes from rounds in
which Node waited idle for seconds on the two REFRESHes while PostgreSQL used both cores, and
the JavaScript of a refresh runs slower after that than when refreshes follow each other. Both
figures are reported; the target is judged on the first.`;

/** Scenario 1: a one-org refresh against the same refresh by hand and against REFRESH MATERIALIZED VIEW. */
export const oneOrgSliceScenario: Scenario = {
  id: 'one-org',
  title: '1. One-org slice of AccountsReceivable',
  usesBillingApp: true,
  async run(ctx) {
    const began = performance.now();
    const { cinema, dataSource } = await ctx.billing();
    const { rounds, warmups } = ctx.rounds({ full: 20, quick: 8 });
    // A stride coprime with most org counts spreads the rounds over the table.
    const orgOf = (round: number) => 1 + ((round * 389) % ctx.sizes.orgs);
    await checkPlan(cinema, ['AccountsReceivable']);
    await checkSameRows(dataSource, () => cinema.project(AccountsReceivable, { orgId: 1 }, { fetch: false }), 1);

    const warm = async (round: number) => {
      for (const sql of SLICE_WARM_SQL) await dataSource.query(sql, [orgOf(round)]);
    };
    const contenders: Contender[] = [
      {
        id: 'cinema',
        label: 'Cinema `project(AccountsReceivable, { orgId }, { fetch: false })`',
        prepare: warm,
        run: async (round) => void (await cinema.project(AccountsReceivable, { orgId: orgOf(round) }, { fetch: false })),
      },
      {
        id: 'hand-sql',
        label: 'hand-written SQL, one transaction',
        prepare: warm,
        run: (round) => refreshSliceByHand(dataSource, orgOf(round)),
      },
      { id: 'refresh', label: '`REFRESH MATERIALIZED VIEW`', run: async () => void (await dataSource.query(REFRESH_ACCOUNTS_RECEIVABLE)) },
      {
        id: 'refresh-concurrently',
        label: '`REFRESH MATERIALIZED VIEW CONCURRENTLY`',
        run: async () => void (await dataSource.query(REFRESH_ACCOUNTS_RECEIVABLE_CONCURRENTLY)),
      },
      {
        id: 'cinema-rows',
        label: 'Cinema `project(AccountsReceivable, { orgId })`, rows returned',
        prepare: warm,
        run: async (round) => void (await cinema.project(AccountsReceivable, { orgId: orgOf(round) })),
      },
      {
        id: 'hand-sql-rows',
        label: 'hand-written SQL, then `repository.findBy({ orgId })`',
        prepare: warm,
        run: async (round) => {
          await refreshSliceByHand(dataSource, orgOf(round));
          await dataSource.getRepository(AccountsReceivable).findBy({ orgId: orgOf(round) });
        },
      },
    ];
    const results = await measure(ctx, this.title, contenders, { warmups, rounds });
    const cinemaMs = find(results, 'cinema').medianMs;
    const backToBackRounds = ctx.options.quick ? 40 : 200;
    const backToBack = await measure(
      ctx,
      `${this.title}, back to back`,
      contenders.filter((c) => c.id === 'cinema' || c.id === 'hand-sql'),
      { warmups: 10, rounds: backToBackRounds },
      { quiet: true },
    );
    return scenarioResult(this, DEFINITION, began, {
      rounds,
      warmups,
      contenders: results,
      pairs: [
        pair(results, 'cinema', 'hand-sql'),
        pair(results, 'cinema', 'refresh'),
        pair(results, 'cinema', 'refresh-concurrently'),
        pair(results, 'cinema-rows', 'hand-sql-rows'),
      ],
      metrics: [
        { label: `back to back: Cinema, median of ${backToBackRounds}`, value: find(backToBack, 'cinema').medianMs, unit: 'ms' },
        {
          label: `back to back: hand-written SQL, median of ${backToBackRounds}`,
          value: find(backToBack, 'hand-sql').medianMs,
          unit: 'ms',
        },
        {
          label: 'back to back: Cinema / hand-written SQL',
          value: round3(find(backToBack, 'cinema').medianMs / find(backToBack, 'hand-sql').medianMs),
          unit: 'x',
        },
      ],
      targets: [
        target('Cinema / hand-written SQL', cinemaMs / find(results, 'hand-sql').medianMs, 'at-most', 1.1, 'x'),
        target('REFRESH MATERIALIZED VIEW / Cinema (speed-up)', find(results, 'refresh').medianMs / cinemaMs, 'at-least', 50, 'x'),
      ],
    });
  },
};

/** Its inputs are virtual: the refresh writes this one table, as the hand-written SQL does. */
async function checkPlan(cinema: CinemaService, expected: string[]): Promise<void> {
  const plan = await cinema.plan(AccountsReceivable, { orgId: 1 });
  const written = plan.steps.filter((step) => !step.virtual).map((step) => step.projection);
  if (written.join() !== expected.join())
    throw new Error(`the one-org refresh writes ${written.join(', ')}, expected ${expected.join(', ')}`);
}

async function refreshSliceByHand(dataSource: DataSource, orgId: number): Promise<void> {
  await dataSource.transaction(async (manager) => {
    for (const sql of SLICE_SQL) await manager.query(sql, [orgId]);
  });
}

/** Cinema, the hand-written SQL and the materialized view must hold the same rows for the org. */
async function checkSameRows(dataSource: DataSource, cinemaRefresh: () => Promise<unknown>, orgId: number): Promise<void> {
  const slice = fingerprintSql('accounts_receivable', '', true);
  await cinemaRefresh();
  const [byCinema] = await dataSource.query(slice, [orgId]);
  await refreshSliceByHand(dataSource, orgId);
  const [byHand] = await dataSource.query(slice, [orgId]);
  const [byView] = await dataSource.query(fingerprintSql('accounts_receivable', '_mv', true), [orgId]);
  if (byCinema.hash !== byHand.hash || byHand.hash !== byView.hash || byCinema.rows === 0) {
    throw new Error(`org ${orgId}: contenders disagree: ${JSON.stringify({ byCinema, byHand, byView })}`);
  }
}
