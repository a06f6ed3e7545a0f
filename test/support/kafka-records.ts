/**
 * Kafka messages of the kafka output back into records, as a plant consumer reads them (see the kafka
 * output README): a `layergate.v1.RecordBatch` by its content-type header, else one `layergate.v1.Record`.
 */
import protobuf from 'protobufjs';
import type { IHeaders } from 'kafkajs';
import { decodeRecord } from '../../gateway/plugin-api/record.js';
import type { StoredRecord } from '../../gateway/plugin-api/record.js';

export const RECORD_BATCH_CONTENT_TYPE = 'application/x-protobuf; messageType=layergate.v1.RecordBatch';

/** The records a message carries: those of a RecordBatch (field 1, each a length-delimited Record), or its one Record. */
export function recordsOfMessage(headers: IHeaders | undefined, value: Buffer): StoredRecord[] {
  if (String(headers?.['content-type']) !== RECORD_BATCH_CONTENT_TYPE) return [decodeRecord(value)];
  const reader = protobuf.Reader.create(value);
  const records: StoredRecord[] = [];
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    if (tag >>> 3 === 1) records.push(decodeRecord(reader.bytes()));
    else reader.skipType(tag & 7);
  }
  return records;
}
