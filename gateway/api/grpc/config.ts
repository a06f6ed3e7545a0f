/**
 * The configuration and policy RPCs (GetConfig, ValidateConfig, ApplyConfig, ListVersions, Rollback,
 * Explain): the same operations as the HTTPS API's /api/v1/config and /api/v1/explain routes, on the
 * same parts of the gateway (hot reload through `GatewayControl`, the history in <dataDir>/config),
 * so the two APIs cannot answer differently. Secrets are redacted as there.
 */
import path from 'node:path';
import YAML from 'yaml';
import { explainAnswer } from '../../classify/explain-report.js';
import { ConfigHistory, historyPath } from '../../config/history.js';
import { ConfigProblems, type LoadedConfig, loadConfig } from '../../config/load.js';
import { redactConfig } from '../../config/report.js';
import { ApiInvalidRequestError, ApiNotFoundError } from '../../plugin-api/errors.js';
import type { ApplyResult } from '../../../wire/generated/grpc/layergate/v1/ApplyResult.js';
import type { ExplainRequest__Output } from '../../../wire/generated/grpc/layergate/v1/ExplainRequest.js';
import type { ExplainResponse } from '../../../wire/generated/grpc/layergate/v1/ExplainResponse.js';
import type { ConfigVersion } from '../../../wire/generated/grpc/layergate/v1/ConfigVersion.js';
import type { ValidateConfigResponse } from '../../../wire/generated/grpc/layergate/v1/ValidateConfigResponse.js';
import type { AppliedConfig } from '../deps.js';
import type { GatewayData } from '../gateway-data.js';
import { accessPatternOfEnum, classEnum, kindOfEnum } from './record-messages.js';

export function runningConfig(loaded: LoadedConfig): { yaml: string; origin: string } {
  return { yaml: YAML.stringify(redactConfig(loaded.schema, loaded.config, loaded.secrets)), origin: loaded.origin };
}

export function validateConfig(yaml: string): ValidateConfigResponse {
  try {
    const candidate = loadConfig({ text: yaml });
    return { ok: true, problems: [], warnings: candidate.warnings };
  } catch (err) {
    if (err instanceof ConfigProblems) return { ok: false, problems: err.problems, warnings: err.warnings };
    throw err;
  }
}

export function applyResult(a: AppliedConfig): { result: ApplyResult } {
  return {
    result: {
      ...(a.version !== undefined && a.version !== null ? { version: a.version } : {}),
      inputs: a.inputs,
      outputs: a.outputs,
      policyChanged: a.policyChanged,
      fileWritten: a.file?.written === true,
      filePath: a.file?.path ?? '',
      fileNote: a.file && !a.file.written ? a.file.reason : '',
    },
  };
}

export function listVersions(apiDir: string): ConfigVersion[] {
  const h = new ConfigHistory(historyPath(path.dirname(apiDir)));
  try {
    return h
      .list()
      .map((v) => ({ version: v.n, at: v.at, author: v.author, comment: v.comment, origin: v.origin, sha256: v.sha256 }))
      .reverse();
  } finally {
    h.close();
  }
}

export function explain(req: ExplainRequest__Output, data: GatewayData): ExplainResponse {
  if (!req.input) throw new ApiInvalidRequestError('input: required (an input instance name)');
  if (!data.inputs.includes(req.input)) {
    throw new ApiNotFoundError(`no input named "${req.input}" in the running gateway's configuration (inputs: ${data.inputs.join(', ') || 'none'})`);
  }
  const kind = kindOfEnum(req.kind) ?? 'scalar';
  const access = accessPatternOfEnum(req.accessPattern, 'access_pattern');
  const held = data.jobMark(req.build || undefined);
  const answer = explainAnswer(data.policy(), {
    input: req.input,
    signal: req.signal,
    kind,
    ...(req.build ? { build: req.build } : {}),
    ...(req.jobClass || held ? { jobClass: req.jobClass || held } : {}),
    ...(access !== undefined ? { accessPattern: access } : {}),
  });
  return {
    class: classEnum(answer.classification.class),
    rule: answer.classification.rule,
    routes: answer.routing.routes,
    outputs: answer.routing.outputs,
    json: JSON.stringify({ ...answer, jobMark: held ?? null }),
  };
}
