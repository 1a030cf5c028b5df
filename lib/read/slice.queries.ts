import { isObservable, type Observable } from 'rxjs';
import { SelectQueryBuilder, type DataSource } from 'typeorm';
import { LENS_ALIAS } from '../cinema.constants.js';
import { InvalidProjectionError } from '../errors/invalid-projection.error.js';
import type { OutputContext, Row } from '../interfaces/derivation-context.interface.js';
import { namedBinder, renderConditions, type NormalizedLens } from '../lens/lens.js';
import type { ProjectionModel } from '../model/projection.model.js';
import type { SqlDialect } from '../dialect/dialect.interface.js';
import { quoteIdent, snakeCase } from '../dialect/postgres/sql.js';

/** A projection's output as a query, with the names of the columns it selects. */
export interface QuerySource {
  kind: 'query';
  qb: SelectQueryBuilder<any>;
  columns: readonly string[];
}

/** A virtual projection whose `output()` produced rows rather than a query. */
export interface RowsSource {
  kind: 'rows';
  rows: Observable<Row> | readonly Row[];
}

export type OutputSource = QuerySource | RowsSource;

const describeCache = new WeakMap<DataSource, Map<string, readonly string[]>>();
const DESCRIBE_CACHE_LIMIT = 500;

/**
 * The columns a query selects, asked of PostgreSQL once per SQL text (`LIMIT 0`): on `client`
 * when given (the write transaction, which may see tables it created), else on a pooled connection.
 */
export async function describeColumns(
  qb: SelectQueryBuilder<any>,
  dialect: SqlDialect,
  client?: { query(config: { text: string; values?: unknown[] }): Promise<{ fields?: { name: string }[] }> },
  /** The query's SQL and parameters, when the caller has built them already. */
  built: [string, unknown[]] = qb.getQueryAndParameters(),
): Promise<readonly string[]> {
  const dataSource = qb.connection;
  const [sql, params] = built;
  let cache = describeCache.get(dataSource);
  if (!cache) describeCache.set(dataSource, (cache = new Map()));
  const hit = cache.get(sql);
  if (hit) return hit;
  const text = dialect.describe(sql);
  const ask = async () => {
    if (client) return client.query({ text, values: params });
    const runner = dataSource.createQueryRunner('slave');
    try {
      return await (await runner.connect()).query({ text, values: params });
    } finally {
      await runner.release();
    }
  };
  const result = await ask();
  const columns = (result.fields ?? []).map((field: { name: string }) => field.name);
  if (cache.size >= DESCRIBE_CACHE_LIMIT) cache.delete(cache.keys().next().value!);
  cache.set(sql, columns);
  return columns;
}

/** The rows of a projection's table, selected under their property names. */
export function tableQuery(model: ProjectionModel, dataSource: DataSource = model.read, withRowId = false): QuerySource {
  const table = model.table!;
  const quoteIdent = model.dialect.quoteIdent;
  let qb = dataSource.createQueryBuilder().from(withRowId ? model.dialect.rowIdSource(table) : `(SELECT * FROM ${table.path})`, 't');
  table.columns.forEach((column, index) => {
    const expression = `${quoteIdent('t')}.${quoteIdent(column.column)}`;
    qb = index === 0 ? qb.select(expression, column.property) : qb.addSelect(expression, column.property);
  });
  if (withRowId) qb = qb.addSelect(`${quoteIdent('t')}."cinema_ctid"`, 'cinema_ctid');
  return { kind: 'query', qb, columns: table.columns.map((column) => column.property) };
}

/** The context a virtual projection's `output()` gets: the lens and its read manager, no inputs. */
export function outputContext(
  model: ProjectionModel,
  lens: NormalizedLens,
  signal: AbortSignal = new AbortController().signal,
): OutputContext {
  const noInputs = (): never => {
    throw new InvalidProjectionError(model.name, 'output() asked for an input', 'A virtual projection reads tables through ctx.read.');
  };
  return { projection: model.name, lens: lens.values, read: model.source.manager, signal, query: noInputs, stream: noInputs };
}

/** What a projection outputs when read as an input: its `output()`, or its table. */
export async function outputOf(model: ProjectionModel, ctx: OutputContext): Promise<OutputSource> {
  if (!model.hasOutput) return tableQuery(model);
  const output = await model.instance.output(ctx);
  if (output instanceof SelectQueryBuilder) {
    const columns = model.options.columns ?? (await describeColumns(output, model.dialect));
    return { kind: 'query', qb: output, columns };
  }
  if (Array.isArray(output) || isObservable(output)) return { kind: 'rows', rows: output as Observable<Row> | Row[] };
  throw new InvalidProjectionError(
    model.name,
    `output() returned ${output === null ? 'null' : typeof output}`,
    'Return a SelectQueryBuilder (preferred: the lens is applied inside PostgreSQL), an array or an Observable of rows.',
  );
}

/** The output column a lens key applies to: the key itself, or its snake_case form. */
export function columnFor(columns: readonly string[], key: string): string | undefined {
  if (columns.includes(key)) return key;
  const snake = snakeCase(key);
  return columns.includes(snake) ? snake : undefined;
}

/**
 * Narrows a query to the lens by wrapping it as a subquery aliased `src`, so the joins and aliases
 * inside it do not matter. Keys the query does not expose are left out; values are parameters.
 */
export function narrow(source: QuerySource, lens: NormalizedLens, projection: string): SelectQueryBuilder<any> {
  const ref = (key: string) => {
    const column = columnFor(source.columns, key);
    return column === undefined ? undefined : `${quoteIdent(LENS_ALIAS)}.${quoteIdent(column)}`;
  };
  const parameters: Record<string, unknown> = { ...source.qb.getParameters() };
  // Named after the projection: inputs composed into one query keep their parameters apart.
  const bind = namedBinder(parameters, `cinema_${projection.replace(/[^A-Za-z0-9]/g, '_')}_`);
  const conditions = renderConditions(lens.conditions, ref, bind);
  if (conditions.length === 0 && !lens.reducer) return source.qb;
  let outer = source.qb.connection
    .createQueryBuilder()
    .select(`${quoteIdent(LENS_ALIAS)}.*`)
    .from(`(${source.qb.getQuery()})`, LENS_ALIAS)
    .setParameters(parameters);
  if (conditions.length > 0) outer = outer.where(conditions.join(' AND '));
  if (lens.reducer) {
    outer = lens.reducer(outer, lens.values, { projection, alias: LENS_ALIAS, columns: source.columns }) ?? outer;
  }
  return outer;
}

/**
 * The rows of a projection under the lens, from its read data source: entities hydrated the way
 * TypeORM hydrates them (dates, transformers) when it is an entity there, plain rows otherwise.
 */
export async function readSlice(
  model: ProjectionModel,
  lens: NormalizedLens,
  outputs?: { of(model: ProjectionModel): Promise<OutputSource> },
): Promise<unknown[]> {
  const source =
    model.table && !model.hasOutput ? tableQuery(model) : await (outputs ? outputs.of(model) : outputOf(model, outputContext(model, lens)));
  if (source.kind === 'rows') return isObservable(source.rows) ? [] : [...source.rows];
  const raw: Row[] = await narrow(source, lens, model.name).getRawMany();
  // Hydrated with the metadata its table model was built from: a replica need not register it.
  const owner = model.write ?? model.read;
  if (!model.table || model.hasOutput || !owner.hasMetadata(model.target)) return raw;
  const metadata = owner.getMetadata(model.target);
  const driver = owner.driver;
  return raw.map((row) => {
    const entity = metadata.create(undefined, { fromDeserializer: true });
    for (const column of metadata.columns) {
      if (column.propertyPath in row) column.setEntityValue(entity, driver.prepareHydratedValue(row[column.propertyPath], column));
    }
    return entity;
  });
}
