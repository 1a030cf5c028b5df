import type pg from 'pg';
import { ArrayContains, Between, In, IsNull, Like, Not, Raw } from 'typeorm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CinemaError, InvalidLensError, InvalidRowError, ProjectionFailedError, UnknownLensKeyError, looseLens } from '../../lib/index.js';
import { Account } from '../../sample-app/src/billing/account.entity.js';
import { Invoice } from '../../sample-app/src/billing/invoice.entity.js';
import { CreateBilling1764000000000 } from '../../sample-app/src/database/migrations/1764000000000-create-billing.js';
import { seedBilling } from '../../sample-app/src/database/seed.js';
import { Accounts } from '../../sample-app/src/receivables/accounts.projection.js';
import { AccountsReceivable } from '../../sample-app/src/receivables/accounts-receivable.projection.js';
import { Invoices } from '../../sample-app/src/receivables/invoices.projection.js';
import { OrgReceivables } from '../../sample-app/src/receivables/org-receivables.projection.js';
import { bootApp, type TestApp } from '../support/app.js';
import { createDatabase } from '../support/database.js';
import { connect, rowsOf } from '../support/postgres.js';
import { orgReceivablesOf, receivablesOf, truthOrgReceivables, truthReceivables } from '../support/receivables.js';
import {
  AccountFlags,
  flags,
  HOSTILE_COPY_TABLE,
  HOSTILE_TABLE,
  HostileCopy,
  HostileRows,
  hostileRowsOf,
  HostileValues,
  HostileValueSource,
  hostileValues,
  Shapes,
  shapes,
  TRUTH_ACCOUNT_FLAGS,
  type Shape,
} from './fixtures/hostile.fixture.js';

const ORGS = 6;
const ACCOUNTS_PER_ORG = 8;
/** More values than PostgreSQL's 65,535 bind parameters: a list must travel as one array. */
const BIG_LIST = 70_000;
const FLAGS = 'SELECT account_id, org_id, open_invoices FROM account_flags';

const FIXTURE_TABLES = `
  CREATE TABLE account_flags (account_id integer PRIMARY KEY, org_id integer NOT NULL, open_invoices integer NOT NULL);
  CREATE TABLE hostile_values (id integer PRIMARY KEY, org_id integer NOT NULL, text text, meta jsonb, tags text[]);
  CREATE TABLE shapes (account_id integer PRIMARY KEY, org_id integer NOT NULL, seats integer NOT NULL, note text);
  CREATE TABLE ${quote(HOSTILE_TABLE)} (${quote('account"id')} integer PRIMARY KEY, ${quote('org id); DELETE FROM accounts; --')} integer NOT NULL, "select" text NOT NULL);
  CREATE TABLE ${quote(HOSTILE_COPY_TABLE)} (${quote('account"id')} integer PRIMARY KEY, ${quote('org"id')} integer NOT NULL, "from" text NOT NULL);`;

function quote(identifier: string): string {
  return `"${identifier.replaceAll('"', '""')}"`;
}

/** Statements that wrote the projection tables, counted by a sequence (which no rollback undoes). */
const COUNT_WRITES = `
  CREATE SEQUENCE IF NOT EXISTS cinema_write_statements;
  CREATE OR REPLACE FUNCTION cinema_count_write() RETURNS trigger LANGUAGE plpgsql AS
    $$ BEGIN PERFORM nextval('cinema_write_statements'); RETURN NULL; END $$;
  CREATE OR REPLACE TRIGGER count_writes BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON accounts_receivable
    FOR EACH STATEMENT EXECUTE FUNCTION cinema_count_write();
  CREATE OR REPLACE TRIGGER count_writes BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON org_receivables
    FOR EACH STATEMENT EXECUTE FUNCTION cinema_count_write();
  CREATE OR REPLACE TRIGGER count_writes BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON account_flags
    FOR EACH STATEMENT EXECUTE FUNCTION cinema_count_write();`;

describe('hostile and malformed input', () => {
  let db: Awaited<ReturnType<typeof createDatabase>>;
  let t: TestApp;
  let admin: pg.Client;
  const ds = () => t.dataSource();

  async function writeStatements(): Promise<number> {
    const { rows } = await admin.query(`SELECT CASE WHEN is_called THEN last_value ELSE 0 END::int AS n FROM cinema_write_statements`);
    return rows[0].n;
  }

  async function tables(): Promise<Record<string, string[]>> {
    return { receivables: await receivablesOf(ds()), orgs: await orgReceivablesOf(ds()), flags: await rowsOf(ds(), FLAGS) };
  }

  /** Seeds, rebuilds everything, then changes invoices of every org: every slice is stale. */
  async function staleEverywhere(): Promise<void> {
    await seedBilling(ds(), { orgs: ORGS, accountsPerOrg: ACCOUNTS_PER_ORG, invoicesPerAccount: 10, seed: 21 });
    await t.cinema.project(OrgReceivables, {}, { fetch: false });
    await t.cinema.project(AccountFlags, {}, { fetch: false });
    await ds().query(
      `UPDATE invoices SET status = CASE status WHEN 'open' THEN 'paid' ELSE 'open' END WHERE status <> 'void' AND id % 2 = 0`,
    );
  }

  beforeAll(async () => {
    db = await createDatabase('hostile');
    // By hand: TypeORM's synchronize does not quote identifiers that hold quotes.
    admin = await connect(db.url);
    await admin.query(FIXTURE_TABLES);
    t = await bootApp({
      dataSources: [{ url: db.url, entities: [Account, Invoice], migrations: [CreateBilling1764000000000] }],
      projections: [
        Accounts,
        Invoices,
        AccountsReceivable,
        OrgReceivables,
        AccountFlags,
        Shapes,
        HostileRows,
        HostileCopy,
        HostileValueSource,
        HostileValues,
      ],
      cinema: { allowEmptyLens: true, batchSize: 10 },
    });
    await admin.query(COUNT_WRITES);
  });
  afterAll(async () => {
    await admin?.end();
    await t?.close();
    await db?.drop();
  });

  describe('lenses refused with a typed error before anything is written', () => {
    let before: Record<string, string[]>;
    beforeAll(async () => {
      await staleEverywhere();
      before = await tables();
    });

    /** Rejected by project() and plan() alike; no statement reached a projection table. */
    async function expectRefused(
      call: () => Promise<unknown>,
      plan: () => Promise<unknown>,
      type: new (...args: never[]) => CinemaError,
      message: RegExp,
    ): Promise<void> {
      const writes = await writeStatements();
      const error = await call().then(
        () => new Error('the lens was accepted'),
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(type);
      expect((error as Error).message).toMatch(message);
      // A huge key or value is not echoed back whole.
      expect((error as Error).message.length).toBeLessThan(2_000);
      await expect(plan()).rejects.toBeInstanceOf(type);
      expect(await writeStatements()).toBe(writes);
      expect(await tables()).toEqual(before);
    }

    const refuse = (
      projection: typeof AccountsReceivable | typeof OrgReceivables,
      lens: unknown,
      type: new (...args: never[]) => CinemaError,
      message: RegExp,
    ) =>
      expectRefused(
        () => t.cinema.project(projection as typeof AccountsReceivable, lens as never),
        () => t.cinema.plan(projection as typeof AccountsReceivable, lens as never),
        type,
        message,
      );

    it.each([
      ['a key no projection has', { region: 'eu' }, /no projection in its graph has a column "region"\. Lens keys it can apply: /],
      ['a key in the wrong case', { orgid: 3 }, /"orgid" \(did you mean "orgId"\?\)/],
      ['a key in snake_case', { org_id: 3 }, /"org_id" \(did you mean "orgId"\?\)/],
      ['a misspelled key', { ogrId: 3 }, /"ogrId" \(did you mean "orgId"\?\)/],
      ['a key named after an Object method', { toString: 3 }, /no projection in its graph has a column "toString"/],
      ['hasOwnProperty', { hasOwnProperty: 3 }, /no projection in its graph has a column "hasOwnProperty"/],
      ['a key of 100,000 characters', { ['k'.repeat(100_000)]: 3 }, /no projection in its graph has a column "kkkk/],
    ])('an unknown key: %s', async (_label, lens, message) => {
      await refuse(AccountsReceivable, lens, UnknownLensKeyError, message);
    });

    it.each([
      ['a SQL fragment', { 'orgId = 1 OR 1': 1 }],
      ['a quoted identifier', { '"orgId"': 1 }],
      ['a statement', { 'orgId"; DROP TABLE accounts_receivable; --': 1 }],
      ['a cast', { 'orgId::text': '1' }],
      ['a comment', { 'orgId--': 1 }],
      ['a named placeholder', { ':orgId': 1 }],
      ['a positional placeholder', { $1: 1 }],
      ['a dotted path', { 'src.orgId': 1 }],
      ['the empty key', { '': 1 }],
      ['a leading space', { ' orgId': 1 }],
      ['a NUL character', { 'orgId\u0000': 1 }],
      ['a look-alike letter', { оrgId: 1 }],
      ['__proto__ from JSON', JSON.parse('{"__proto__": {"orgId": 1}}')],
      ['__proto__ beside a good key', JSON.parse('{"orgId": 1, "__proto__": 1}')],
      ['constructor', { constructor: 1 }],
      ['prototype', { prototype: 1 }],
    ])('a key that is not a property name: %s', async (_label, lens) => {
      await refuse(AccountsReceivable, lens, InvalidLensError, /a lens key is a column property name/);
      expect(({} as Record<string, unknown>).orgId).toBeUndefined();
    });

    it.each([
      ['a word', { orgId: 'three' }, /"three" is not an integer \(column org_id\)/],
      ['an injection', { orgId: '3; DELETE FROM accounts_receivable' }, /is not an integer \(column org_id\)/],
      ['a tautology', { orgId: '3 OR 1=1' }, /"3 OR 1=1" is not an integer/],
      ['a boolean', { orgId: true }, /true is not an integer/],
      ['a fraction', { orgId: 2.5 }, /2\.5 is not an integer/],
      ['a number past int4', { orgId: 2 ** 31 }, /2147483648 is out of range for integer/],
      ['a number below int4', { orgId: -(2 ** 31) - 1 }, /is out of range for integer/],
      ['a bigint past int8', { orgId: 1n << 70n }, /is out of range for integer/],
      ['NaN', { orgId: Number.NaN }, /NaN is not a finite number/],
      ['Infinity', { orgId: Number.POSITIVE_INFINITY }, /Infinity is not a finite number/],
      ['undefined', { orgId: undefined }, /the value is undefined/],
      ['an object', { orgId: { $gt: 1 } }, /an object \(Object\) is not a value/],
      ['an object without prototype', { orgId: Object.create(null) }, /an object \(no prototype\) is not a value/],
      ['a nested list', { orgId: [[1]] }, /an array is not a value/],
      ['a list with one bad item', { orgId: [1, 2, 'x'] }, /"x" is not an integer/],
      ['a function', { orgId: () => 1 }, /a function is not a value/],
      ['a symbol', { orgId: Symbol('orgId') }, /a symbol is not a value/],
      ['a Date', { orgId: new Date('2026-01-01') }, /is not an integer/],
      ['an invalid Date', { orgId: new Date('nope') }, /the date is invalid/],
      ['a promise', { orgId: Promise.resolve(3) }, /an object \(Promise\) is not a value/],
      ['a Buffer', { orgId: Buffer.from('3') }, /an object \(Buffer\) is not a value/],
      ['Raw()', { orgId: Raw('1 = 1') }, /the raw\(\) operator is not supported/],
      ['Raw() inside Not()', { orgId: Not(Raw(() => '1 = 1')) }, /the raw\(\) operator is not supported/],
      ['ArrayContains()', { orgId: ArrayContains([3]) }, /the arrayContains\(\) operator is not supported/],
      ['In() of a string', { orgId: In('3' as never) }, /In\(\) takes an array/],
      ['Between() of one value', { orgId: Between(1, undefined as never) }, /undefined is not a value/],
      ['Like() on an integer', { orgId: Like('%3%') }, /"%3%" is not an integer/],
      ['a number for a text column', { name: 5 }, /5 is not a string \(column name\)/],
      ['a NUL character in a string', { name: 'Account\u00001' }, /NUL/],
      ['a numeric string of a million digits', { orgId: '9'.repeat(1_000_000) }, /"9{40}\.\.\." is not an integer/],
      ['a string of a million characters', { orgId: 'x'.repeat(1_000_000) }, /"x{40}\.\.\." is not an integer/],
    ])('a value that does not fit: %s', async (_label, lens, message) => {
      await refuse(AccountsReceivable, lens, InvalidLensError, message);
    });

    it.each([
      ['an impossible date', { day: '2026-02-30' }, /"2026-02-30" is not a date \(column day\)/],
      ['a 13th month', { day: '2026-13-01' }, /"2026-13-01" is not a date/],
      ['a word for a date', { day: 'yesterday' }, /"yesterday" is not a date/],
      ['a number for a date', { day: 20_260_101 }, /20260101 is not a date/],
      ['a date with trailing text', { day: '2026-01-01; DROP TABLE org_receivables' }, /is not a date/],
    ])('a date that does not fit: %s', async (_label, lens, message) => {
      const options = { skipDependencies: true };
      await expectRefused(
        () => t.cinema.project(OrgReceivables, lens as never, options),
        () => t.cinema.plan(OrgReceivables, lens as never, options),
        InvalidLensError,
        message,
      );
    });

    it.each([
      ['a string', 'orgId=3'],
      ['a number', 3],
      ['an array', [3]],
      ['a function', () => ({ orgId: 3 })],
      ['a Map', new Map([['orgId', 3]])],
      ['a Date', new Date()],
      ['a boxed string', new String('orgId')],
      ['an object whose keys are inherited', Object.create({ orgId: 3 })],
    ])('a lens that is not a plain object: %s', async (_label, lens) => {
      await refuse(AccountsReceivable, lens, InvalidLensError, /a lens is a plain object|inherited/);
    });

    it('a lens key a projection of the run cannot slice by', async () => {
      await refuse(OrgReceivables, { accountId: 3 }, InvalidLensError, /OrgReceivables has no column "accountId"/);
    });

    it('a reducer that is not a function (JSON cannot carry one)', async () => {
      await refuse(AccountsReceivable, JSON.parse('{"orgId": 3, "$reduce": "1=1"}'), InvalidLensError, /\$reduce must be a function/);
    });
  });

  describe('hostile values that are valid: bound as parameters, exactly their slice changes', () => {
    beforeEach(staleEverywhere);

    it.each([
      ['a quote and a tautology', "x' OR '1'='1"],
      ['a statement', `'); DROP TABLE accounts_receivable; --`],
      ['a positional placeholder', '$1'],
      ['a named placeholder', ':orgId'],
      ['a backslash', '\\'],
      ['a dollar quote', '$$ || (SELECT 1) || $$'],
      ['a million characters', 'x'.repeat(1_000_000)],
    ])('a text value that matches nothing: %s', async (_label, name) => {
      const before = await tables();
      expect(await t.cinema.project(AccountsReceivable, { name })).toEqual([]);
      expect(await tables()).toEqual(before);
      const [{ n }] = await ds().query(`SELECT COUNT(*)::int AS n FROM accounts WHERE name IS NOT NULL`);
      expect(n).toBe(ORGS * ACCOUNTS_PER_ORG);
    });

    it.each([
      ['null (IS NULL)', null],
      ['an empty list', []],
      ['an empty In()', In([])],
    ])('a lens that selects no row: %s', async (_label, orgId) => {
      const before = await tables();
      expect(await t.cinema.project(OrgReceivables, { orgId: orgId as never })).toEqual([]);
      expect(await tables()).toEqual(before);
    });

    it('a numeric string is the number', async () => {
      const before = await tables();
      await t.cinema.project(OrgReceivables, { orgId: '3' as never });
      expect(await receivablesOf(ds(), 'org_id = 3')).toEqual(await truthReceivables(ds(), 'org_id = 3'));
      expect(await orgReceivablesOf(ds(), 'org_id = 3')).toEqual(await truthOrgReceivables(ds(), 'org_id = 3'));
      expect(await receivablesOf(ds(), 'org_id <> 3')).toEqual(before.receivables.filter((r) => JSON.parse(r).org_id !== 3));
    });

    it('a text value with a quote rebuilds exactly that row', async () => {
      await ds().query(`UPDATE accounts SET name = $1 WHERE id = 5`, [`O'Brien"; --`]);
      await ds().query(`UPDATE invoices SET status = 'open' WHERE account_id = 5 AND status = 'paid'`);
      const before = await tables();
      const rows = await t.cinema.project(AccountsReceivable, { name: `O'Brien"; --` });
      expect(rows.map((row) => row.accountId)).toEqual([5]);
      expect(await receivablesOf(ds(), 'account_id = 5')).toEqual(await truthReceivables(ds(), 'account_id = 5'));
      expect(await receivablesOf(ds(), 'account_id <> 5')).toEqual(before.receivables.filter((r) => JSON.parse(r).account_id !== 5));
    });
  });

  describe(`IN lists longer than PostgreSQL's ${(65_535).toLocaleString('en')} bind parameters`, () => {
    const evenIds = Array.from({ length: BIG_LIST }, (_, i) => 2 * (i + 1));
    beforeEach(staleEverywhere);

    it('through the inputs, the delete and the INSERT ... SELECT', async () => {
      const before = await tables();
      const rows = await t.cinema.project(AccountsReceivable, { accountId: evenIds });
      expect(rows.map((row) => row.accountId).sort((a, b) => a - b)).toEqual(evenIds.filter((id) => id <= ORGS * ACCOUNTS_PER_ORG));
      expect(await receivablesOf(ds(), 'account_id % 2 = 0')).toEqual(await truthReceivables(ds(), 'account_id % 2 = 0'));
      expect(await receivablesOf(ds(), 'account_id % 2 = 1')).toEqual(before.receivables.filter((r) => JSON.parse(r).account_id % 2 === 1));
      expect(await receivablesOf(ds(), 'account_id % 2 = 1')).not.toEqual(await truthReceivables(ds(), 'account_id % 2 = 1'));
    });

    it('on a partition key, past the per-value locks, through two projections', async () => {
      const orgs = Array.from({ length: BIG_LIST }, (_, i) => i + 1);
      const rows = await t.cinema.project(OrgReceivables, { orgId: In(orgs) });
      expect(new Set(rows.map((row) => row.orgId)).size).toBe(ORGS);
      expect(await receivablesOf(ds())).toEqual(await truthReceivables(ds()));
      expect(await orgReceivablesOf(ds())).toEqual(await truthOrgReceivables(ds()));
    });

    it('through a cursor and the streamed write path, which keeps rows outside the list out', async () => {
      const before = await tables();
      await t.cinema.project(AccountFlags, { accountId: evenIds });
      expect(flags.streamed).toBe((ORGS * ACCOUNTS_PER_ORG) / 2);
      const truth = await rowsOf(ds(), `SELECT * FROM (${TRUTH_ACCOUNT_FLAGS}) t`);
      const flagged = await rowsOf(ds(), FLAGS);
      const even = (rows: string[], parity: number) => rows.filter((r) => JSON.parse(r).account_id % 2 === parity);
      expect(even(flagged, 0)).toEqual(even(truth, 0));
      expect(even(flagged, 1)).toEqual(even(before.flags, 1));
      expect(even(flagged, 1)).not.toEqual(even(truth, 1));
    });

    it('a list of 70,000 strings on a text column', async () => {
      const names = Array.from({ length: BIG_LIST }, (_, i) => `Account ${3 * (i + 1)}`);
      const rows = await t.cinema.project(AccountsReceivable, { name: names });
      expect(rows.map((row) => row.accountId).sort((a, b) => a - b)).toEqual(
        Array.from({ length: (ORGS * ACCOUNTS_PER_ORG) / 3 }, (_, i) => 3 * (i + 1)),
      );
      expect(await receivablesOf(ds(), 'account_id % 3 = 0')).toEqual(await truthReceivables(ds(), 'account_id % 3 = 0'));
    });
  });

  describe('derived rows of the wrong shape fail the projection and keep its slice', () => {
    beforeEach(async () => {
      shapes.shape = 'ok';
      await t.cinema.project(Shapes, {}, { fetch: false });
    });
    afterAll(() => {
      shapes.shape = 'ok';
    });

    // (A query's NULL in a required lens key would fall outside the slice and not be written at
    // all; with the empty lens, the column's NOT NULL refuses it.)
    it.each<[Shape, RegExp, boolean, Record<string, unknown>?]>([
      ['query-missing-required', /Shapes: its query does not select the required field "orgId"/, true],
      ['query-extra-field', /Shapes: its query selects "colour", which is not a column of "shapes"/, true],
      ['query-null-required', /null value in column "org_id"/, false, {}],
      ['query-wrong-type', /column "seats" is of type integer but expression is of type text/, false],
      ['rows-missing-required', /Shapes: row 5 lacks the required field "orgId"/, true],
      ['rows-extra-field', /Shapes: row 5 has a field "colour", which is not a column of "shapes"/, true],
      ['rows-null-required', /Shapes: row 5 lacks the required field "orgId"/, true],
      ['rows-wrong-type', /invalid input syntax for type integer: "many"/, false],
      ['rows-not-an-object', /Shapes: row 5 is number, not an object/, true],
      ['rows-null', /Shapes: row 5 is null, not an object/, true],
      ['rows-empty', /Shapes: row 5 has no fields/, true],
      ['rows-proto-key', /Shapes: row 5 has a field "__proto__", which is not a column of "shapes"/, true],
      ['returns-a-number', /Shapes: a derivation returned number/, true],
      ['returns-a-string', /Shapes: a derivation returned string/, true],
    ])('%s', async (shape, message, ours, lens = { orgId: [2, 3] }) => {
      const before = await rowsOf(ds(), 'SELECT * FROM shapes');
      expect(before).toHaveLength(ORGS * ACCOUNTS_PER_ORG);
      shapes.shape = shape;
      const error = await t.cinema.project(Shapes, lens).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ProjectionFailedError);
      expect((error as ProjectionFailedError).projection).toBe('Shapes');
      expect((error as Error).message).toMatch(/^Projection Shapes failed for lens \{.*\}( \(everything\))? and was rolled back: /);
      expect((error as Error).message).toMatch(message);
      // Our own checks raise InvalidRowError; PostgreSQL's refusals arrive as its error.
      if (ours) expect((error as ProjectionFailedError).cause).toBeInstanceOf(InvalidRowError);
      expect(await rowsOf(ds(), 'SELECT * FROM shapes')).toEqual(before);
    });
  });

  describe('derived values that break naive SQL or COPY text arrive intact', () => {
    const NASTY = [
      `tab\there`,
      `new\nline`,
      `carriage\rreturn`,
      `back\\slash`,
      `\\N`,
      `\\.`,
      `\\.\n`,
      `'); DROP TABLE accounts; --`,
      `"double" 'single' \`back\``,
      `$1 :name ?`,
      `{braces,"and",commas}`,
      `NULL`,
      ``,
      ` `,
      `emoji 🧾 and accents éà and RTL \u202e`,
      `\u0001\u001f\u007f`,
    ];

    it('through the streamed (COPY) path, text, json and arrays, inside the lens only', async () => {
      hostileValues.rows = NASTY.flatMap((text, i) => [
        { id: 2 * i + 1, orgId: 1, text, meta: { text, nested: [text, null] }, tags: [text, 'NULL', text] },
        { id: 2 * i + 2, orgId: 2, text, meta: null, tags: null },
      ]);
      hostileValues.rows.push({ id: 999, orgId: 1, text: null, meta: [], tags: [] });
      await t.cinema.project(HostileValues, { orgId: 1 });
      const stored: { id: number; org_id: number; text: string | null; meta: unknown; tags: string[] | null }[] = await ds().query(
        `SELECT id, org_id, text, meta, tags FROM hostile_values ORDER BY id`,
      );
      const expected = hostileValues.rows
        .filter((row) => row.orgId === 1)
        .map((row) => ({ id: row.id, org_id: 1, text: row.text, meta: row.meta, tags: row.tags }));
      expect(stored).toEqual(expected);
    });

    it('a NUL character fails the projection and keeps its slice', async () => {
      hostileValues.rows = [{ id: 1, orgId: 1, text: 'ok', meta: null, tags: null }];
      await t.cinema.project(HostileValues, {});
      hostileValues.rows = [{ id: 1, orgId: 1, text: 'nul \u0000 byte', meta: null, tags: null }];
      const error = await t.cinema.project(HostileValues, {}).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ProjectionFailedError);
      expect((error as Error).message).toMatch(/^Projection HostileValues failed for lens \{\} \(everything\) and was rolled back: .*0x00/);
      expect(await ds().query(`SELECT id, text FROM hostile_values`)).toEqual([{ id: 1, text: 'ok' }]);
    });
  });

  describe('identifiers a developer chose badly are quoted everywhere', () => {
    beforeAll(staleEverywhere);

    it('rebuilds a projection whose name, table and columns hold quotes and SQL', async () => {
      const rows = await t.cinema.project(HostileRows, {}, { fetch: true });
      expect(rows).toHaveLength(ORGS * ACCOUNTS_PER_ORG);
      await ds().query(`UPDATE accounts SET name = name || ' (renamed)' WHERE org_id IN (2, 4)`);
      const sliced = await t.cinema.project(HostileCopy, { orgId: In([2, 4]) });
      expect(sliced).toHaveLength(2 * ACCOUNTS_PER_ORG);
      expect(sliced.every((row) => row.label.endsWith(`(renamed)'; --`))).toBe(true);
      const copied = (await hostileRowsOf(ds(), HOSTILE_COPY_TABLE)) as Record<string, unknown>[];
      expect(copied).toHaveLength(2 * ACCOUNTS_PER_ORG);
      expect(Object.keys(copied[0])).toEqual(['account"id', 'org"id', 'from']);
      expect(await hostileRowsOf(ds(), HOSTILE_TABLE)).toHaveLength(ORGS * ACCOUNTS_PER_ORG);
      const [{ accounts }] = await ds().query(`SELECT COUNT(*)::int AS accounts FROM accounts`);
      expect(accounts).toBe(ORGS * ACCOUNTS_PER_ORG);
      const error = await t.cinema.project(HostileCopy, looseLens({ orgid: 1 })).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UnknownLensKeyError);
      expect((error as Error).message).toContain(`Copy'); DROP TABLE accounts; --`);
    });

    it('IsNull() and Not() on a hostile column', async () => {
      await t.cinema.project(HostileRows, { orgId: Not(IsNull()) });
      await t.cinema.project(HostileRows, { orgId: Not(In([1, 2])) });
      expect(await hostileRowsOf(ds(), HOSTILE_TABLE)).toHaveLength(ORGS * ACCOUNTS_PER_ORG);
    });
  });
});
