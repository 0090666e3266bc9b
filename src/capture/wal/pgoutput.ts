/**
 * A decoder of the pgoutput logical replication protocol, version 1
 * (https://www.postgresql.org/docs/current/protocol-logicalrep-message-formats.html),
 * limited to what capture needs. Column values stay the text PostgreSQL's
 * output functions produced: the appender turns them back into values inside
 * the database, by the types of the Relation message that preceded the change
 * (not the table's current definition), so the row JSON is exactly the
 * trigger path's to_jsonb() of the row as it was at commit.
 *
 * postgres.js's own `subscribe` speaks pgoutput too, but it converts values to
 * JavaScript (losing numeric precision and jsonb's shape), ignores Commit and
 * Truncate, and only works on a temporary slot it acknowledges at once; see
 * docs/architecture.md ("Capture").
 */

/** A value of a tuple: text, null, or "unchanged TOASTed value" (update of a row whose big column did not change). */
export type Value = string | null | typeof UNCHANGED;
export const UNCHANGED = Symbol('unchanged-toast');

/** A column as a Relation message describes it: name, type and type modifier (-1: none). */
export interface Column {
  name: string;
  type: number;
  typmod: number;
}

/**
 * A table as pgoutput describes it before the first change that uses this
 * description, and again after every change to its definition (ALTER TABLE):
 * the changes that follow are read by it.
 */
export interface Relation {
  id: number;
  schema: string;
  table: string;
  columns: Column[];
}

export type Message =
  | { tag: 'begin'; finalLsn: bigint; commitTime: Date; xid: number }
  | { tag: 'commit'; commitLsn: bigint; endLsn: bigint; commitTime: Date }
  | { tag: 'relation'; relation: Relation }
  | { tag: 'insert'; relationId: number; new: Value[] }
  | { tag: 'update'; relationId: number; old: Value[] | null; new: Value[] }
  | { tag: 'delete'; relationId: number; old: Value[] | null }
  | { tag: 'truncate'; relationIds: number[] }
  | { tag: 'message'; prefix: string; content: string }
  | { tag: 'other' };

/** PostgreSQL timestamps count microseconds from 2000-01-01 UTC. */
const PG_EPOCH_MS = Date.UTC(2000, 0, 1);
const pgTime = (micros: bigint) => new Date(PG_EPOCH_MS + Number(micros / 1000n));

/** 0/16B3748 → 23803720n */
export function parseLsn(text: string): bigint {
  const [hi, lo] = text.split('/');
  return (BigInt(`0x${hi ?? '0'}`) << 32n) | BigInt(`0x${lo ?? '0'}`);
}

export function formatLsn(lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}

class Reader {
  constructor(
    private readonly buf: Buffer,
    public at = 0,
  ) {}
  u8(): number {
    return this.buf.readUInt8(this.at++);
  }
  i16(): number {
    const v = this.buf.readInt16BE(this.at);
    this.at += 2;
    return v;
  }
  i32(): number {
    const v = this.buf.readInt32BE(this.at);
    this.at += 4;
    return v;
  }
  u32(): number {
    const v = this.buf.readUInt32BE(this.at);
    this.at += 4;
    return v;
  }
  i64(): bigint {
    const v = this.buf.readBigInt64BE(this.at);
    this.at += 8;
    return v;
  }
  string(): string {
    const end = this.buf.indexOf(0, this.at);
    const s = this.buf.toString('utf8', this.at, end);
    this.at = end + 1;
    return s;
  }
  tuple(): Value[] {
    const n = this.i16();
    const values: Value[] = new Array<Value>(n);
    for (let i = 0; i < n; i++) {
      const kind = this.u8();
      if (kind === 0x6e /* n */) values[i] = null;
      else if (kind === 0x75 /* u */) values[i] = UNCHANGED;
      else if (kind === 0x74 /* t */) {
        const len = this.i32();
        values[i] = this.buf.toString('utf8', this.at, this.at + len);
        this.at += len;
      } else throw new Error(`pgoutput: unexpected tuple value kind ${kind}`);
    }
    return values;
  }
}

/** Decodes one pgoutput message (the payload of an XLogData message). */
export function decode(buf: Buffer): Message {
  const r = new Reader(buf);
  const tag = String.fromCharCode(r.u8());
  switch (tag) {
    case 'B': {
      const finalLsn = r.i64();
      return { tag: 'begin', finalLsn, commitTime: pgTime(r.i64()), xid: r.i32() };
    }
    case 'C': {
      r.u8(); // flags
      const commitLsn = r.i64();
      const endLsn = r.i64();
      return { tag: 'commit', commitLsn, endLsn, commitTime: pgTime(r.i64()) };
    }
    case 'R': {
      const id = r.u32();
      const schema = r.string() || 'pg_catalog';
      const table = r.string();
      r.u8(); // replica identity
      const n = r.i16();
      const columns: Column[] = [];
      for (let i = 0; i < n; i++) {
        r.u8(); // flags (part of the key)
        columns.push({ name: r.string(), type: r.u32(), typmod: r.i32() });
      }
      return { tag: 'relation', relation: { id, schema, table, columns } };
    }
    case 'I': {
      const relationId = r.u32();
      r.u8(); // 'N'
      return { tag: 'insert', relationId, new: r.tuple() };
    }
    case 'U': {
      const relationId = r.u32();
      let kind = r.u8();
      let old: Value[] | null = null;
      if (kind === 0x4b /* K */ || kind === 0x4f /* O */) {
        old = r.tuple();
        kind = r.u8();
      }
      return { tag: 'update', relationId, old, new: r.tuple() };
    }
    case 'D': {
      const relationId = r.u32();
      const kind = r.u8();
      return { tag: 'delete', relationId, old: kind === 0x4b || kind === 0x4f ? r.tuple() : null };
    }
    case 'T': {
      const n = r.i32();
      r.u8(); // options (CASCADE, RESTART IDENTITY)
      const relationIds: number[] = [];
      for (let i = 0; i < n; i++) relationIds.push(r.u32());
      return { tag: 'truncate', relationIds };
    }
    case 'M': {
      r.u8(); // flags (transactional)
      r.i64(); // lsn
      const prefix = r.string();
      const len = r.i32();
      return { tag: 'message', prefix, content: buf.toString('utf8', r.at, r.at + len) };
    }
    default:
      return { tag: 'other' }; // Type, Origin
  }
}

/**
 * A row as the appender takes it: a JSON array of its column values as text
 * (null as null), in the order of its Relation message's columns. Unchanged
 * TOASTed values are taken from `fallback` (the old row: REPLICA IDENTITY
 * FULL logs it whole).
 */
export function rowValues(values: Value[], fallback?: Value[] | null): string {
  const out: (string | null)[] = new Array<string | null>(values.length);
  for (let i = 0; i < values.length; i++) {
    let v = values[i];
    if (v === UNCHANGED) v = fallback?.[i] ?? null;
    if (v === UNCHANGED) throw new Error('pgoutput: unchanged TOASTed value without the old row (is REPLICA IDENTITY FULL set?)');
    out[i] = v ?? null;
  }
  return JSON.stringify(out);
}
