/**
 * A configuration applied to the running gateway (`Gateway.apply`: the API's apply and rollback,
 * SIGHUP): only the inputs and outputs whose entries changed are restarted; the buffer, every
 * cursor and the unchanged plugins run on.
 *
 * Order, each step only after the one before it succeeded:
 *  1. plan (./reload-plan.ts): a change outside inputs, outputs, classification and routing refuses
 *     the whole candidate; the new policy is built and checked (a sensitive route off premises
 *     refuses it) before anything is touched.
 *  2. buffer sinks: the new outputs' sinks are added (cursor 0: no record stored before is routed to
 *     them). A removed output's sink stays, holding its undelivered records, until an admin drops it
 *     (`RecordBuffer.dropSink`, the loss ledger says `sink-dropped`): nothing is orphaned silently.
 *     It also still takes what an emit routed to it by the old policy commits after this step.
 *  3. outputs: removed and changed ones stop (forwarder, then plugin), added and changed ones start
 *     with their new settings. A changed output's new forwarder reads from the sink's cursor: what
 *     the old one sent but had not acked is sent again (the at-least-once window of a restart).
 *  4. policy: records emitted from now on are classified and routed by the new one.
 *  5. inputs: removed and changed ones stop (an input resolves `stop` when no emit is in flight, so
 *     every record it acked is in the buffer), added and changed ones start. Unchanged inputs keep
 *     running: their sessions with their servers are not touched.
 *  6. the new configuration is in force: a version in the history (author, comment) and an audit
 *     entry `config-applied` with what changed.
 * A failure in 3 or 5 puts back what was there (the old versions of the plugins stopped, the old
 * policy and sinks), writes `config-apply-failed` to the audit log and rejects with a
 * ConfigApplyError naming the plugin and its error: the running configuration is the old one.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { AuditLog } from '../audit/audit-log.js';
import type { RecordBuffer } from '../buffer/types.js';
import type { LoadedConfig } from '../config/load.js';
import { redactConfig } from '../config/report.js';
import type { Config } from '../config/schema.js';
import { type Policy, policyFromDefinitions } from '../classify/index.js';
import { ConfigApplyError, ConfigError } from '../plugin-api/errors.js';
import type { OutputToRun } from './outputs.js';
import type { PluginRegistry } from './registry.js';
import { type InstanceChanges, planChangesSomething, planReload } from './reload-plan.js';

/** Who applies a configuration and why (the history and the audit log keep both). */
export interface ApplyMeta {
  author: string;
  comment: string;
}

/** What an applied configuration changed. */
export interface ApplyResult {
  /** the version in the history now in force (undefined: the history could not be written) */
  version: number | undefined;
  inputs: InstanceChanges;
  outputs: InstanceChanges;
  policyChanged: boolean;
}

/** The running gateway's parts an apply changes, each through its own method. */
export interface ReloadTarget {
  loaded: LoadedConfig;
  policy: Policy;
  registry: PluginRegistry;
  log: Logger;
  buffer: RecordBuffer;
  audit: AuditLog;
  running(): boolean;
  setLoaded(loaded: LoadedConfig, policy: Policy): void;
  setPolicy(policy: Policy): void;
  outputsToRun(config: Config, policy: Policy): OutputToRun[];
  reconfigureOutputs(stop: readonly string[], start: readonly OutputToRun[]): Promise<void>;
  stopInputs(names: readonly string[]): Promise<void>;
  startInputs(config: Config, names: readonly string[]): Promise<void>;
  forgetInput(name: string): void;
  recordVersion(loaded: LoadedConfig, meta: ApplyMeta): number | undefined;
}

const hashOf = (loaded: LoadedConfig): string =>
  createHash('sha256')
    .update(JSON.stringify(redactConfig(loaded.schema, loaded.config, loaded.secrets)))
    .digest('hex');

export async function applyConfig(gw: ReloadTarget, candidate: LoadedConfig, meta: ApplyMeta): Promise<ApplyResult> {
  const refuse = (message: string, cause?: unknown): never => {
    gw.audit.append('config-apply-failed', { author: meta.author, comment: meta.comment, reason: message });
    throw new ConfigApplyError(message, cause === undefined ? undefined : { cause });
  };
  if (!gw.running()) refuse('the gateway is stopping; nothing was applied');
  const old = { loaded: gw.loaded, policy: gw.policy };
  const plan = planReload(old.loaded.config, candidate.config);
  if (plan.needsRestart.length > 0) {
    refuse(`${plan.needsRestart.join(', ')}: only a restart applies ${plan.needsRestart.length === 1 ? 'this key' : 'these keys'}; nothing was applied`);
  }
  let policy: Policy;
  try {
    policy = policyFromDefinitions(candidate.config, gw.registry);
  } catch (err) {
    if (err instanceof ConfigError) refuse(`the policy does not hold: ${err.message}; nothing was applied`, err);
    throw err;
  }
  const result = (version: number | undefined): ApplyResult => ({ version, inputs: plan.inputs, outputs: plan.outputs, policyChanged: plan.policyChanged });
  if (!planChangesSomething(plan)) {
    // the same configuration (comments or layout may differ): nothing restarts, the text is a version
    gw.setLoaded(candidate, gw.policy);
    return result(gw.recordVersion(candidate, meta));
  }

  const log = gw.log.child({ component: 'reload' });
  const oldSinks = Object.keys(old.loaded.config.outputs);
  const newSinks = Object.keys(candidate.config.outputs);
  const outputsStopped = [...plan.outputs.removed, ...plan.outputs.changed];
  const outputsStarted = gw.outputsToRun(candidate.config, policy).filter((o) => plan.outputs.added.includes(o.name) || plan.outputs.changed.includes(o.name));
  const inputsStopped = [...plan.inputs.removed, ...plan.inputs.changed];
  const inputsStarted = [...plan.inputs.added, ...plan.inputs.changed];
  log.info({ author: meta.author, inputs: plan.inputs, outputs: plan.outputs, policyChanged: plan.policyChanged }, 'applying a configuration');

  // sinks this apply creates: forgotten again if it fails (nothing was routed to them yet)
  const known = new Set(gw.buffer.knownSinks().map((k) => k.name));
  const createdSinks = newSinks.filter((name) => !known.has(name));
  const restoreSinks = (): void => {
    gw.buffer.configureSinks(oldSinks);
    for (const name of createdSinks) {
      try {
        gw.buffer.forgetSink(name);
      } catch (err) {
        log.error({ err, sink: name }, 'the sink of an output that did not start could not be forgotten');
      }
    }
  };
  /** the outputs as they were (their sinks too), after a failure */
  const restoreOutputs = async (): Promise<void> => {
    const back = gw.outputsToRun(old.loaded.config, old.policy).filter((o) => outputsStopped.includes(o.name));
    await gw
      .reconfigureOutputs(
        outputsStarted.map((o) => o.name),
        back,
      )
      .catch((err: unknown) => log.error({ err }, 'an output could not be put back as it was; fix it and apply again'));
    restoreSinks();
  };

  // 2 + 3: sinks, outputs
  try {
    gw.buffer.configureSinks(newSinks);
  } catch (err) {
    // more sink names than a buffer holds, say
    refuse(`${(err as Error).message}; nothing was applied`, err);
  }
  try {
    await gw.reconfigureOutputs(outputsStopped, outputsStarted);
  } catch (err) {
    await restoreOutputs();
    refuse(`${(err as Error).message}; the outputs run as before, nothing was applied`, err);
  }
  // 4: policy
  gw.setPolicy(policy);
  // 5: inputs
  await gw.stopInputs(inputsStopped);
  try {
    await gw.startInputs(candidate.config, inputsStarted);
  } catch (err) {
    gw.setPolicy(old.policy);
    for (const name of plan.inputs.added) gw.forgetInput(name);
    await gw
      .startInputs(old.loaded.config, inputsStopped)
      .catch((e: unknown) => log.error({ err: e }, 'an input could not be put back as it was; fix it and apply again'));
    await restoreOutputs();
    refuse(`${(err as Error).message}; the inputs and outputs run as before, nothing was applied`, err);
  }
  for (const name of plan.inputs.removed) gw.forgetInput(name);
  // 6: in force
  gw.setLoaded(candidate, policy);
  const version = gw.recordVersion(candidate, meta);
  gw.audit.append('config-applied', {
    author: meta.author,
    comment: meta.comment,
    ...(version !== undefined ? { version } : {}),
    configHash: hashOf(candidate),
    previousHash: hashOf(old.loaded),
    inputs: plan.inputs,
    outputs: plan.outputs,
    policyChanged: plan.policyChanged,
  });
  const held = gw.buffer
    .knownSinks()
    .filter((k) => plan.outputs.removed.includes(k.name) && k.lagRecords > 0)
    .map((k) => ({ sink: k.name, lagRecords: k.lagRecords }));
  if (held.length > 0) {
    log.warn({ sinks: held }, 'removed outputs keep their undelivered records in the buffer until an admin drops them (DELETE /api/v1/buffer/sinks/<name>)');
  }
  log.info({ version }, 'configuration applied');
  return result(version);
}
