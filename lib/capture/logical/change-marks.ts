import { UNCHANGED, type PgoutputMessage, type RelationColumn, type TupleValue } from './pgoutput.parser.js';

/** A projection fed by a captured table: its lens keys and the table's columns they read. */
export interface LogicalSource {
  projection: string;
  lens: readonly { key: string; column: string }[];
}

/** The slices of one projection read from one table: one shape of mark. */
export interface SliceShape {
  projection: string;
  keys: string[];
  /** The type of each key's column, to cast its text as the capture triggers would write it. */
  typeOids: number[];
  /** Distinct rows of each key's text value (`null`: SQL NULL). */
  rows: (string | null)[][];
}

/** What a batch of decoded changes marks dirty. */
export interface CollectedMarks {
  /** Projections to rebuild whole (TRUNCATE, or a lens value the change did not carry). */
  whole: Set<string>;
  slices: SliceShape[];
}

/**
 * Maps decoded changes to dirty marks, as the capture triggers would write them: an INSERT
 * marks the new row's slice, a DELETE the old row's, an UPDATE both (a row moved between
 * slices dirties both); TRUNCATE marks the whole projections the table feeds. A lens column the
 * change does not carry (an unchanged TOAST value with nothing to take it from, a key-only old
 * tuple without it) marks the projection whole: never less than the triggers.
 */
export class MarkCollector {
  private readonly relations = new Map<number, RelationColumn[]>();
  private readonly whole = new Set<string>();
  private readonly shapes = new Map<string, SliceShape & { seen: Set<string> }>();
  /** Changes seen (inserts, updates, deletes, truncates). */
  changes = 0;

  /** `sources`: by table OID, the projections that table feeds. */
  constructor(private readonly sources: ReadonlyMap<number, readonly LogicalSource[]>) {}

  add(message: PgoutputMessage): void {
    switch (message.tag) {
      case 'relation':
        this.relations.set(message.oid, message.columns);
        return;
      case 'insert':
        this.changes++;
        this.row(message.oid, message.new, false);
        return;
      case 'update':
        this.changes++;
        this.row(message.oid, message.new, false, message.old, message.oldKind === 'key');
        // No old tuple: the replica identity did not change, nor the lens columns it holds (checked at startup).
        if (message.old) this.row(message.oid, message.old, message.oldKind === 'key', message.new, false);
        return;
      case 'delete':
        this.changes++;
        this.row(message.oid, message.old, message.oldKind === 'key');
        return;
      case 'truncate':
        this.changes++;
        for (const oid of message.oids) for (const source of this.sources.get(oid) ?? []) this.whole.add(source.projection);
        return;
      default:
        return;
    }
  }

  result(): CollectedMarks {
    const slices = [...this.shapes.values()].filter((shape) => !this.whole.has(shape.projection)).map(({ seen: _seen, ...shape }) => shape);
    return { whole: new Set(this.whole), slices };
  }

  /**
   * Marks the slice of `tuple` for every projection the table feeds. `keyOnly`: it carries only
   * the replica identity's columns. `other`, the change's other tuple, fills unchanged TOAST values.
   */
  private row(oid: number, tuple: TupleValue[], keyOnly: boolean, other?: TupleValue[], otherKeyOnly = false): void {
    const sources = this.sources.get(oid);
    if (!sources) return;
    const columns = this.relations.get(oid);
    for (const source of sources) {
      const values = columns
        ? lensValues(source, columns, { tuple, keyOnly }, other && { tuple: other, keyOnly: otherKeyOnly })
        : undefined;
      if (!values) {
        this.whole.add(source.projection);
        continue;
      }
      const keys = source.lens.map(({ key }) => key);
      const typeOids = source.lens.map(({ column }) => columns!.find((c) => c.name === column)!.typeOid);
      const id = JSON.stringify([source.projection, oid, keys]);
      let shape = this.shapes.get(id);
      if (!shape) this.shapes.set(id, (shape = { projection: source.projection, keys, typeOids, rows: [], seen: new Set() }));
      const text = JSON.stringify(values);
      if (shape.seen.has(text)) continue;
      shape.seen.add(text);
      shape.rows.push(values);
    }
  }
}

interface Tuple {
  tuple: TupleValue[];
  keyOnly: boolean;
}

/** The text of each lens column in `row` (unchanged TOAST values from `other`); `undefined` if one is not carried. */
function lensValues(source: LogicalSource, columns: RelationColumn[], row: Tuple, other?: Tuple): (string | null)[] | undefined {
  const carried = (from: Tuple | undefined, index: number): TupleValue | undefined =>
    // A key-only tuple carries nothing but the replica identity's columns.
    from && (!from.keyOnly || columns[index].key) ? from.tuple[index] : undefined;
  const values: (string | null)[] = [];
  for (const { column } of source.lens) {
    const index = columns.findIndex((c) => c.name === column);
    if (index < 0) return undefined;
    let value = carried(row, index);
    if (value === UNCHANGED) value = carried(other, index);
    if (value === UNCHANGED || value === undefined) return undefined;
    values.push(value);
  }
  return values;
}
