import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Column, Entity, PrimaryColumn, type ObjectLiteral, type SelectQueryBuilder } from 'typeorm';
import { Input, Projection, ProjectionTimeoutError, type DerivationContext, type OutputContext } from '../../lib/index.js';
import { bootApp, type TestApp } from '../support/app.js';
import { createDatabase } from '../support/database.js';

/** Seconds each derivation sleeps inside its write transaction. */
const pause = { seconds: 0.6 };

@Projection({ virtual: true, columns: ['id', 'orgId'] })
class Seats {
  output(ctx: OutputContext) {
    return ctx.read
      .createQueryBuilder()
      .select('s.g', 'id')
      .addSelect('s.g % 2', 'orgId')
      .from('(SELECT g FROM generate_series(1, 10) g)', 's');
  }
}

async function slowly(seats: SelectQueryBuilder<ObjectLiteral>, ctx: DerivationContext) {
  await ctx.write.query('SELECT pg_sleep($1)', [pause.seconds]);
  return seats;
}

/** Takes the module's timeouts. */
@Entity('timeout_seats')
@Projection({ partitionKey: 'orgId' })
class SeatMap {
  @PrimaryColumn({ type: 'integer' }) id: number;
  @Column({ name: 'org_id', type: 'integer' }) orgId: number;
  @Input(() => Seats, { as: 'query' })
  derive(seats: SelectQueryBuilder<ObjectLiteral>, ctx: DerivationContext) {
    return slowly(seats, ctx);
  }
}

/** Sets its own timeout, which applies to every lens, the empty one too. */
@Entity('timeout_own_seats')
@Projection({ partitionKey: 'orgId', timeout: 300 })
class OwnSeatMap {
  @PrimaryColumn({ type: 'integer' }) id: number;
  @Column({ name: 'org_id', type: 'integer' }) orgId: number;
  @Input(() => Seats, { as: 'query' })
  derive(seats: SelectQueryBuilder<ObjectLiteral>, ctx: DerivationContext) {
    return slowly(seats, ctx);
  }
}

/** Each timeout error says which option set the limit, so users know what to raise. */
describe('timeouts name the option to raise; an empty lens has its own default', () => {
  let db: Awaited<ReturnType<typeof createDatabase>>;
  let t: TestApp;
  let strict: TestApp;

  beforeAll(async () => {
    db = await createDatabase('timeouts');
    const boot = (fullRebuildTimeout: number) =>
      bootApp({
        dataSources: [{ url: db.url, synchronize: true }],
        projections: [Seats, SeatMap, OwnSeatMap],
        cinema: { timeout: 300, fullRebuildTimeout, allowEmptyLens: true },
      });
    t = await boot(5_000);
    strict = await boot(300);
  });
  afterAll(async () => {
    await strict?.close();
    await t?.close();
    await db?.drop();
  });

  it("a slice over the module's timeout: raise CinemaModule.forRoot({ timeout })", async () => {
    const error = await t.cinema.project(SeatMap, { orgId: 1 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProjectionTimeoutError);
    expect(error).toMatchObject({ option: 'module', timeoutMs: 300 });
    expect((error as Error).message).toMatch(
      /^Projection SeatMap timed out after 300 ms for lens \{ orgId: 1 \} and was rolled back\. Raise CinemaModule\.forRoot\(\{ timeout \}\), or set @Projection\(\{ timeout \}\) on SeatMap, or narrow the lens\.$/,
    );
  });

  it('an empty lens takes fullRebuildTimeout instead of the timeout', async () => {
    const rows = await t.cinema.project(SeatMap, {});
    expect(rows).toHaveLength(10);
  });

  it('an empty lens over fullRebuildTimeout: raise it', async () => {
    const error = await strict.cinema.project(SeatMap, {}).catch((e: unknown) => e);
    expect(error).toMatchObject({ option: 'fullRebuild', timeoutMs: 300 });
    expect((error as Error).message).toMatch(
      /Raise CinemaModule\.forRoot\(\{ fullRebuildTimeout \}\) \(the limit of a rebuild with an empty lens\)/,
    );
  });

  it("a projection's own timeout applies to the empty lens too: raise @Projection({ timeout })", async () => {
    const error = await t.cinema.project(OwnSeatMap, {}).catch((e: unknown) => e);
    expect(error).toMatchObject({ option: 'projection', timeoutMs: 300 });
    expect((error as Error).message).toMatch(/Raise @Projection\(\{ timeout \}\) on OwnSeatMap, or narrow the lens\.$/);
  });

  it("the run's own timeout: raise the timeout passed to project()", async () => {
    const error = await t.cinema.project(SeatMap, {}, { timeout: 200 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ option: 'call', timeoutMs: 200 });
    expect((error as Error).message).toMatch(/Raise the timeout passed to project\(\) \(it bounds the whole run; 0 for none\)/);
  });
});
