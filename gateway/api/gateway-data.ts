/**
 * What the API's reads of the gateway's data need from the running gateway (the audit log is in
 * ApiDeps already): where its quarantine and buffer lie, the policy's answer for a signal, and the
 * sealer to open what the gateway sealed. Built from a Gateway by ./gateway-view.ts (`gatewayDataOf`).
 * The routes read the files themselves, read-only; nothing here changes the gateway.
 */
import type { Policy } from '../classify/index.js';
import type { RecordKind, SensitivityClass } from '../plugin-api/record.js';

export interface GatewayData {
  /** the gateway's data folder: quarantine/inputs/<input>/, quarantine/outputs/<sink>/ */
  dataDir: string;
  /** the buffer's folder, read on a connection of the API's own (gateway/buffer/stream-read.ts) */
  bufferDir: string;
  /** the class and routes the running policy gives a record of this source, signal and kind (as `layergate explain`) */
  explain(source: string, signal: string, kind: RecordKind): { class: SensitivityClass; rule: string; routes: string[] };
  /** the policy in force (`Gateway.policy`), whole: GET /api/v1/explain */
  policy(): Pick<Policy, 'explain'>;
  /** the input instances the gateway runs (config keys) */
  inputs: readonly string[];
  /** the class the running pipeline holds for a build's job (marked through the machine context); undefined: none */
  jobMark(build: string | undefined): SensitivityClass | undefined;
  /** open bytes the gateway sealed at rest (throws the sealer's coded error when they do not open) */
  unseal(sealed: Buffer): Buffer;
}
