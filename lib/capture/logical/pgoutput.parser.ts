import { PgoutputFormatError } from '../../errors/pgoutput-format.error.js';
/**
 * A parser of the messages of PostgreSQL's `pgoutput` plugin, protocol version 1, text tuple
 * format ("Logical Replication Message Formats" in the PostgreSQL documentation): one message
 * per row of `pg_logical_slot_peek_binary_changes`.
 */

/** One column of a tuple: `null`, unchanged TOAST (`unchanged`, its value not sent) or its text. */
export type TupleValue = string | null | typeof UNCHANGED;

/** A TOASTed value the change did not touch: pgoutput leaves it out. */
export const UNCHANGED: unique symbol = Symbol('unchanged TOAST value');

export interface RelationColumn {
  name: string;
  typeOid: number;
  /** Part of the replica identity (what a DELETE or a key-changing UPDATE sends as old values). */
  key: boolean;
}

export type PgoutputMessage =
  | { tag: 'begin'; finalLsn: string; xid: number }
  | { tag: 'commit'; commitLsn: string; endLsn: string }
  | { tag: 'origin'; name: string }
  | { tag: 'relation'; oid: number; schema: string; name: string; replicaIdentity: string; columns: RelationColumn[] }
  | { tag: 'type'; oid: number; schema: string; name: string }
  | { tag: 'insert'; oid: number; new: TupleValue[] }
  /** `old`: the old replica identity (`K`, key columns only, others `null`) or the whole old row (`O`); absent when neither changed. */
  | { tag: 'update'; oid: number; old?: TupleValue[]; oldKind?: 'key' | 'full'; new: TupleValue[] }
  | { tag: 'delete'; oid: number; old: TupleValue[]; oldKind: 'key' | 'full' }
  | { tag: 'truncate'; oids: number[] }
  | { tag: 'message' }
  | { tag: 'unknown'; byte: string };

/** Parses one message. */
export function parsePgoutput(data: Buffer): PgoutputMessage {
  const reader = new Reader(data);
  const tag = reader.char();
  switch (tag) {
    case 'B': {
      const finalLsn = reader.lsn();
      reader.skip(8); // commit timestamp
      return { tag: 'begin', finalLsn, xid: reader.int32() };
    }
    case 'C': {
      reader.skip(1); // flags
      const commitLsn = reader.lsn();
      return { tag: 'commit', commitLsn, endLsn: reader.lsn() };
    }
    case 'O': {
      reader.skip(8);
      return { tag: 'origin', name: reader.string() };
    }
    case 'R': {
      const oid = reader.int32();
      const schema = reader.string();
      const name = reader.string();
      const replicaIdentity = reader.char();
      const count = reader.int16();
      const columns: RelationColumn[] = [];
      for (let i = 0; i < count; i++) {
        const key = (reader.int8() & 1) === 1;
        const column = reader.string();
        const typeOid = reader.int32();
        reader.skip(4); // type modifier
        columns.push({ name: column, typeOid, key });
      }
      return { tag: 'relation', oid, schema, name, replicaIdentity, columns };
    }
    case 'Y': {
      const oid = reader.int32();
      return { tag: 'type', oid, schema: reader.string(), name: reader.string() };
    }
    case 'I': {
      const oid = reader.int32();
      reader.expect('N');
      return { tag: 'insert', oid, new: reader.tuple() };
    }
    case 'U': {
      const oid = reader.int32();
      let kind = reader.char();
      let old: TupleValue[] | undefined;
      let oldKind: 'key' | 'full' | undefined;
      if (kind === 'K' || kind === 'O') {
        oldKind = kind === 'K' ? 'key' : 'full';
        old = reader.tuple();
        kind = reader.char();
      }
      if (kind !== 'N') throw new PgoutputFormatError(`an UPDATE carries '${kind}' where 'N' was expected`);
      return { tag: 'update', oid, old, oldKind, new: reader.tuple() };
    }
    case 'D': {
      const oid = reader.int32();
      const kind = reader.char();
      if (kind !== 'K' && kind !== 'O') throw new PgoutputFormatError(`a DELETE carries '${kind}' where 'K' or 'O' was expected`);
      return { tag: 'delete', oid, old: reader.tuple(), oldKind: kind === 'K' ? 'key' : 'full' };
    }
    case 'T': {
      const count = reader.int32();
      reader.skip(1); // options: CASCADE, RESTART IDENTITY
      const oids: number[] = [];
      for (let i = 0; i < count; i++) oids.push(reader.int32());
      return { tag: 'truncate', oids };
    }
    case 'M':
      return { tag: 'message' };
    default:
      return { tag: 'unknown', byte: tag };
  }
}

/** An LSN as PostgreSQL prints it: `16/B374D848`. */
export function formatLsn(high: number, low: number): string {
  return `${high.toString(16).toUpperCase()}/${low.toString(16).toUpperCase()}`;
}

class Reader {
  private offset = 0;

  constructor(private readonly data: Buffer) {}

  char(): string {
    return String.fromCharCode(this.int8());
  }

  int8(): number {
    this.need(1);
    return this.data.readUInt8(this.offset++);
  }

  int16(): number {
    this.need(2);
    const value = this.data.readInt16BE(this.offset);
    this.offset += 2;
    return value;
  }

  int32(): number {
    this.need(4);
    const value = this.data.readUInt32BE(this.offset);
    this.offset += 4;
    return value;
  }

  lsn(): string {
    const high = this.int32();
    return formatLsn(high, this.int32());
  }

  skip(bytes: number): void {
    this.need(bytes);
    this.offset += bytes;
  }

  expect(char: string): void {
    const found = this.char();
    if (found !== char) throw new PgoutputFormatError(`found '${found}' where '${char}' was expected`);
  }

  /** A NUL-terminated string. */
  string(): string {
    const end = this.data.indexOf(0, this.offset);
    if (end < 0) throw new PgoutputFormatError('a string has no terminating NUL');
    const text = this.data.toString('utf8', this.offset, end);
    this.offset = end + 1;
    return text;
  }

  tuple(): TupleValue[] {
    const count = this.int16();
    const values: TupleValue[] = [];
    for (let i = 0; i < count; i++) {
      const kind = this.char();
      if (kind === 'n') values.push(null);
      else if (kind === 'u') values.push(UNCHANGED);
      else if (kind === 't') {
        const length = this.int32();
        this.need(length);
        values.push(this.data.toString('utf8', this.offset, this.offset + length));
        this.offset += length;
      } else throw new PgoutputFormatError(`unknown tuple column kind '${kind}' (only the text format is read)`);
    }
    return values;
  }

  private need(bytes: number): void {
    if (this.offset + bytes > this.data.length) throw new PgoutputFormatError('the message ends early');
  }
}
