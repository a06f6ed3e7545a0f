import { describe, expect, it } from 'vitest';
import { readAheadLimits } from './batch-reader.js';

const MiB = 1024 * 1024;

describe('read-ahead limits', () => {
  it('holds up to four default batches (500 records, 8 MiB each), within 16 MiB', () => {
    expect(readAheadLimits(500, 8 * MiB)).toEqual({ records: 2000, bytes: 16 * MiB });
  });

  it('caps many small records by count: batches of 10,000 scalars read ahead 20,000 records, not 40,000', () => {
    expect(readAheadLimits(10_000, 1 * MiB)).toEqual({ records: 20_000, bytes: 4 * MiB });
  });

  it('reads a batch larger than the caps ahead in part: a sink of 100,000-record batches holds one batch and 20,000 records, not two batches', () => {
    expect(readAheadLimits(100_000, 32 * MiB)).toEqual({ records: 20_000, bytes: 16 * MiB });
  });
});
