import type { DataSource } from 'typeorm';
import { OrgReceivables } from '../../sample-app/src/receivables/org-receivables.projection.js';
import { find, measure, pair, scenarioResult, target, type Contender } from '../harness.js';
import { ORGS_SLICES_SQL, REFRESH_ACCOUNTS_RECEIVABLE, REFRESH_ORG_RECEIVABLES, fingerprintSql } from '../fixtures/receivables.queries.js';
import type { ContenderResult } from '../results.interface.js';
import type { Scenario } from '../scenario.interface.js';

/** How many orgs a round refreshes: up to all of them (the last point is the whole table). */
const ORG_COUNTS = [1, 10, 100, 1_000];
/** The "many slices at once" comparison: one list lens against as many one-org refreshes. */
const MANY = 100;

function definition(counts: readonly number[], totalOrgs: number): string {
  return `Where does a slice stop paying? \`AccountsReceivable\` and \`OrgReceivables\` refreshed for
${counts.map((n) => n.toLocaleString('en-US')).join(', ')} of the ${totalOrgs.toLocaleString('en-US')} orgs, against the same
orgs by hand and against refreshing everything. The orgs are spread over the table and move every
round (the same orgs for every contender of a round).

- **cinema-N**: \`cinema.project(OrgReceivables, { orgId: [N orgs] }, { fetch: false })\`: their
  \`AccountsReceivable\` slices, then their \`OrgReceivables\` slices, each table in its own transaction.
- **hand-sql-N**: one transaction: \`DELETE FROM accounts_receivable WHERE org_id = ANY($1); INSERT
  ... SELECT ... WHERE org_id = ANY($1)\`, then the same for \`org_receivables\`.
- **refresh**: \`REFRESH MATERIALIZED VIEW\` of the two equivalent views, whatever the number of
  orgs that changed.
- **separate-${MANY}** (when the table has more than ${MANY} orgs): the same ${MANY} orgs as **cinema-${MANY}**, refreshed one
  after the other by ${MANY} calls of \`cinema.project(OrgReceivables, { orgId }, { fetch: false })\`.

\`VACUUM\` of the four relations runs, untimed, before every contender (as in scenario 2). Before
measuring, the rows Cinema and the hand-written SQL write for 10 orgs are checked to be those of the views.`;
}

const VACUUM = `VACUUM accounts_receivable, org_receivables, accounts_receivable_mv, org_receivables_mv`;

/** Time against the fraction of orgs refreshed: Cinema, the same by hand, and REFRESH MATERIALIZED VIEW. */
export const fractionScenario: Scenario = {
  id: 'fraction',
  title: '10. Time against the fraction of orgs refreshed',
  usesBillingApp: true,
  async run(ctx) {
    const began = performance.now();
    const { cinema, dataSource } = await ctx.billing();
    const totalOrgs = ctx.sizes.orgs;
    const counts = orgCounts(totalOrgs);
    const { rounds, warmups } = ctx.rounds({ full: 5, quick: 3 });
    const orgsOf = (count: number, round: number) => spreadOrgs(count, totalOrgs, round);
    const project = (orgs: number[]) => cinema.project(OrgReceivables, { orgId: orgs }, { fetch: false });
    await checkSameRows(dataSource, async (orgs) => void (await project(orgs)), orgsOf(Math.min(10, totalOrgs), 0));

    const vacuum = async () => void (await dataSource.query(VACUUM));
    const contenders: Contender[] = [
      ...counts.flatMap((count): Contender[] => [
        {
          id: `cinema-${count}`,
          label: `Cinema, ${orgsLabel(count, totalOrgs)}`,
          prepare: vacuum,
          run: async (round) => void (await project(orgsOf(count, round))),
        },
        {
          id: `hand-sql-${count}`,
          label: `hand-written SQL, ${orgsLabel(count, totalOrgs)}`,
          prepare: vacuum,
          run: (round) => refreshOrgsByHand(dataSource, orgsOf(count, round)),
        },
      ]),
      ...(counts.includes(MANY) && MANY < totalOrgs
        ? [
            {
              id: `separate-${MANY}`,
              label: `Cinema, the same ${MANY} orgs one call each`,
              prepare: vacuum,
              run: async (round: number) => {
                for (const orgId of orgsOf(MANY, round)) await cinema.project(OrgReceivables, { orgId }, { fetch: false });
              },
            },
          ]
        : []),
      {
        id: 'refresh',
        label: '`REFRESH MATERIALIZED VIEW` of both views (every org)',
        prepare: vacuum,
        run: async () => {
          await dataSource.query(REFRESH_ACCOUNTS_RECEIVABLE);
          await dataSource.query(REFRESH_ORG_RECEIVABLES);
        },
      },
    ];
    const results = await measure(ctx, this.title, contenders, { warmups, rounds });
    return scenarioResult(this, definition(counts, totalOrgs), began, {
      rounds,
      warmups,
      contenders: results,
      pairs: counts
        .flatMap((count) => [pair(results, `cinema-${count}`, `hand-sql-${count}`), pair(results, `cinema-${count}`, 'refresh')])
        .concat(results.some((result) => result.id === `separate-${MANY}`) ? [pair(results, `separate-${MANY}`, `cinema-${MANY}`)] : []),
      // The charts read the fraction from here: a merged partial run may have another scale than the header's.
      metrics: [{ label: 'orgs in the table', value: totalOrgs, unit: 'orgs' }],
      notes: [breakEvenNote(results, counts, totalOrgs)],
      targets: results.some((result) => result.id === `separate-${MANY}`)
        ? [
            target(
              `${MANY} orgs as one list lens: Cinema / hand-written SQL`,
              find(results, `cinema-${MANY}`).medianMs / find(results, `hand-sql-${MANY}`).medianMs,
              'at-most',
              1.2,
              'x',
            ),
            target(
              `${MANY} orgs: ${MANY} one-org refreshes / one list lens (speed-up)`,
              find(results, `separate-${MANY}`).medianMs / find(results, `cinema-${MANY}`).medianMs,
              'at-least',
              20,
              'x',
            ),
          ]
        : [],
    });
  },
};

/** 1, 10, 100, 1,000 below the number of orgs, then all of them. */
export function orgCounts(totalOrgs: number): number[] {
  return [...ORG_COUNTS.filter((n) => n < totalOrgs), totalOrgs];
}

/**
 * `count` distinct orgs (ids 1 to `totalOrgs`) evenly spread over the table, shifted every round
 * by a stride coprime with most org counts.
 */
export function spreadOrgs(count: number, totalOrgs: number, round: number): number[] {
  const shift = (round * 389) % totalOrgs;
  return Array.from({ length: count }, (_, i) => 1 + ((Math.floor((i * totalOrgs) / count) + shift) % totalOrgs));
}

function orgsLabel(count: number, totalOrgs: number): string {
  const percent = (100 * count) / totalOrgs;
  return `${count.toLocaleString('en-US')} ${count === 1 ? 'org' : 'orgs'} (${percent >= 1 ? percent.toFixed(0) : percent.toPrecision(1)}%)`;
}

async function refreshOrgsByHand(dataSource: DataSource, orgs: number[]): Promise<void> {
  await dataSource.transaction(async (manager) => {
    for (const sql of ORGS_SLICES_SQL) await manager.query(sql, [orgs]);
  });
}

/** Where Cinema's line crosses REFRESH's, interpolated between the measured counts on log-log axes. */
function breakEvenNote(results: ContenderResult[], counts: readonly number[], totalOrgs: number): string {
  const refreshMs = find(results, 'refresh').medianMs;
  const cinemaMs = counts.map((n) => find(results, `cinema-${n}`).medianMs);
  const slower = cinemaMs.findIndex((ms) => ms >= refreshMs);
  if (slower === -1) return `Cinema is faster than \`REFRESH MATERIALIZED VIEW\` at every fraction measured, all orgs included.`;
  if (slower === 0) return `Cinema is slower than \`REFRESH MATERIALIZED VIEW\` from one org on.`;
  const [n0, n1] = [counts[slower - 1], counts[slower]];
  const [t0, t1] = [cinemaMs[slower - 1], cinemaMs[slower]];
  const at = Math.log(refreshMs / t0) / Math.log(t1 / t0);
  const orgs = Math.round(n0 * (n1 / n0) ** at);
  return `Cinema takes as long as \`REFRESH MATERIALIZED VIEW\` at about ${orgs.toLocaleString('en-US')} orgs (${((100 * orgs) / totalOrgs).toPrecision(2)}% of the table, interpolated between ${n0.toLocaleString('en-US')} and ${n1.toLocaleString('en-US')}); below that a slice refresh is cheaper.`;
}

/** After a refresh of the same orgs by Cinema and by hand, their slices of both tables must hold the views' rows. */
async function checkSameRows(dataSource: DataSource, cinemaRefresh: (orgs: number[]) => Promise<void>, orgs: number[]): Promise<void> {
  const fingerprints = async (suffix: string) =>
    JSON.stringify([
      (await dataSource.query(fingerprintSql('accounts_receivable', suffix, 'any'), [orgs]))[0],
      (await dataSource.query(fingerprintSql('org_receivables', suffix, 'any'), [orgs]))[0],
    ]);
  await dataSource.query(REFRESH_ACCOUNTS_RECEIVABLE);
  await dataSource.query(REFRESH_ORG_RECEIVABLES);
  const byViews = await fingerprints('_mv');
  await cinemaRefresh(orgs);
  const byCinema = await fingerprints('');
  await refreshOrgsByHand(dataSource, orgs);
  const byHand = await fingerprints('');
  if (byCinema !== byViews || byHand !== byViews || byViews.includes('"rows":0,')) {
    throw new Error(`fraction, orgs ${orgs.join(', ')}: contenders disagree: cinema ${byCinema}, hand ${byHand}, views ${byViews}`);
  }
}
