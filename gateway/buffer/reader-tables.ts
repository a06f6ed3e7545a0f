/**
 * The streams and sinks tables as a second connection reads them (./reader.ts for the delivery
 * thread, ./range-read.ts for the API's streams and queries): rows name a stream by id and their sinks
 * by a route bit mask, and the owner may have added either in a commit after this connection loaded
 * them, so an id or a bit not known yet reloads its table once.
 */
import type Database from 'better-sqlite3';
import { MAX_SINKS } from './layout.js';
import type { Stream } from './streams.js';

export class ReaderTables {
  private readonly newStreams: Database.Statement;
  private readonly sinkBits: Database.Statement;
  private readonly streams = new Map<number, Stream>();
  private maxStreamId = 0;
  private readonly bits = new Map<string, number>();
  private bitNames: (string | undefined)[] = [];
  private readonly routeNames = new Map<number, string[]>();

  constructor(
    db: Database.Database,
    /** names the database in errors */
    private readonly dbPath: string,
  ) {
    this.newStreams = db.prepare('SELECT id, source, signal, content_type FROM streams WHERE id > ? ORDER BY id');
    this.sinkBits = db.prepare('SELECT name, bit FROM sinks');
    this.loadSinks();
  }

  /** The route bit of a sink (RangeError for a name the sinks table does not hold). */
  bitOf(sink: string): number {
    let bit = this.bits.get(sink);
    if (bit === undefined) {
      this.loadSinks();
      bit = this.bits.get(sink);
      if (bit === undefined) throw new RangeError(`buffer ${this.dbPath}: no sink "${sink}"`);
    }
    return bit;
  }

  stream(id: number): Stream {
    let st = this.streams.get(id);
    if (st === undefined) {
      for (const r of this.newStreams.all(this.maxStreamId) as { id: number; source: string; signal: string; content_type: string }[]) {
        this.streams.set(r.id, { id: r.id, source: r.source, signal: r.signal, contentType: r.content_type });
        this.maxStreamId = r.id;
      }
      st = this.streams.get(id);
      if (st === undefined) throw new RangeError(`buffer ${this.dbPath}: a row names stream ${id}, which the streams table does not hold`);
    }
    return st;
  }

  /** the sink names of a route mask: one frozen array per mask, as the owner's `namesOf` */
  namesOf(mask: number): string[] {
    let names = this.routeNames.get(mask);
    if (names === undefined) {
      // a sink the owner added after this reader loaded the table
      for (let bit = 0; bit < MAX_SINKS; bit++) {
        if (mask & (1 << bit) && this.bitNames[bit] === undefined) {
          this.loadSinks();
          break;
        }
      }
      const list: string[] = [];
      for (let bit = 0; bit < MAX_SINKS; bit++) if (mask & (1 << bit)) list.push(this.bitNames[bit] ?? `#${bit}`);
      names = Object.freeze(list) as string[];
      this.routeNames.set(mask, names);
    }
    return names;
  }

  private loadSinks(): void {
    const names: (string | undefined)[] = [];
    for (const r of this.sinkBits.all() as { name: string; bit: number }[]) {
      this.bits.set(r.name, r.bit);
      names[r.bit] = r.name;
    }
    this.bitNames = names;
    this.routeNames.clear();
  }
}
