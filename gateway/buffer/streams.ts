/**
 * Stream interning: each distinct (source, signal, content type) is stored once in the `streams`
 * table, and a record row carries its small integer id (see ./layout.ts).
 *
 * Constraints:
 * - Lookups are on the append hot path: streams are grouped by (source, content type) and then by
 *   signal, and the group of the previous lookup is kept, so a lookup builds no key string unless
 *   the source or content type changed.
 * - A new stream is inserted inside the caller's transaction. If that transaction rolls back, the
 *   caller truncates the table to its size before the transaction (`truncate`), so memory never
 *   names an id the database does not hold.
 */
import type Database from 'better-sqlite3';

export interface Stream {
  id: number;
  source: string;
  signal: string;
  contentType: string;
}

/** the key of a stream group: the streams of one source and content type, by signal */
function groupKey(source: string, contentType: string): string {
  return `${source}\0${contentType}`;
}

export class StreamTable {
  /** every stream by id: the read side resolves a row's stream with one lookup here */
  readonly byId = new Map<number, Stream>();
  /**
   * streams by (source, content type), then signal: the append loop looks up a signal in the group
   * of the previous record without building a key string per record
   */
  private groups = new Map<string, Map<string, Stream>>();
  private lastGroup: { source: string; contentType: string; bySignal: Map<string, Stream> } | null = null;
  /** in insertion order, so a rolled-back transaction can drop the ones it added */
  private list: Stream[] = [];
  private insertStream!: Database.Statement;

  /** Replace the table's contents with the `streams` table of `db`; new streams go in with `insertStream`. */
  load(db: Database.Database, insertStream: Database.Statement): void {
    this.insertStream = insertStream;
    this.groups.clear();
    this.lastGroup = null;
    this.byId.clear();
    this.list = [];
    for (const r of db.prepare('SELECT id, source, signal, content_type FROM streams ORDER BY id').all() as {
      id: number;
      source: string;
      signal: string;
      content_type: string;
    }[]) {
      this.add({ id: r.id, source: r.source, signal: r.signal, contentType: r.content_type });
    }
  }

  /** how many streams are known; `truncate(size)` undoes every insert made after reading it */
  get size(): number {
    return this.list.length;
  }

  /** the stream id for a triple, inserting it (inside the caller's transaction) when new */
  idOf(source: string, signal: string, contentType: string): number {
    let last = this.lastGroup;
    if (last === null || last.source !== source || last.contentType !== contentType) {
      const key = groupKey(source, contentType);
      let bySignal = this.groups.get(key);
      if (!bySignal) this.groups.set(key, (bySignal = new Map()));
      last = this.lastGroup = { source, contentType, bySignal };
    }
    let st = last.bySignal.get(signal);
    if (!st) {
      const id = Number(this.insertStream.run(source, signal, contentType).lastInsertRowid);
      st = { id, source, signal, contentType };
      this.add(st);
    }
    return st.id;
  }

  /** Forget the streams added after the table had `size` entries (their transaction rolled back). */
  truncate(size: number): void {
    while (this.list.length > size) {
      const st = this.list.pop()!;
      this.groups.get(groupKey(st.source, st.contentType))?.delete(st.signal);
      this.byId.delete(st.id);
    }
  }

  private add(st: Stream): void {
    const key = groupKey(st.source, st.contentType);
    let group = this.groups.get(key);
    if (!group) this.groups.set(key, (group = new Map()));
    group.set(st.signal, st);
    this.byId.set(st.id, st);
    this.list.push(st);
  }
}
