/**
 * Plugin actions: operations a plugin definition declares (`actions`) and the control-plane API serves,
 * the way it declares `commands` for the CLI (./commands.ts). The cloud output's `sync-status`,
 * `sync-pause`, `sync-resume`; the OPC-UA input's `pki-list`, `pki-trust`, `pki-reject`.
 *
 * The core registers one route per declared action of every registered plugin (gateway/api/routes/plugin-actions.ts):
 *
 *   GET  /api/v1/plugins/<type>/:instance/actions/<name>   an action that changes nothing (input: the query string)
 *   POST /api/v1/plugins/<type>/:instance/actions/<name>   an action that changes something (input: the JSON body; audited)
 *
 * `:instance` is a configured instance of that plugin type in the config the gateway runs with (else 404).
 *
 * Constraints:
 * - Each action declares the lowest role it needs (`role`); the API's access hook enforces it like any
 *   route's. An action that changes something is audited by the core (`plugin-action`: type, instance,
 *   action, user, input), before its answer is sent; a plugin audits nothing itself.
 * - Input and output are zod schemas: the input is validated before `run` (400 otherwise; a strict
 *   object, unknown fields refused), the output is what the API serializes and documents (OpenAPI).
 * - `run` gets the validated config as the plugin's commands see it (`PluginConfigView`, the same as
 *   `CommandContext.load` returns) and the instance it was called for; it returns JSON. A failure is a
 *   `LayerGateError` of the catalog (its code decides the HTTP status; others are 500), thrown.
 * - An action must not block the data path: it runs in the gateway's process, so it does bounded
 *   work (a SQLite read, moving a file) and imports heavy code lazily.
 * - An action with `status` is read by the live status at every status interval and its summary shown
 *   as that section of the instance's status (today: `sync`, the cloud outputs' sync progress).
 */
import { z } from 'zod';
import type { PluginConfigView, PluginInstance } from './commands.js';

/** The roles of the control plane, lowest first (an action needs at least one of them). */
export type ActionRole = 'viewer' | 'operator' | 'admin';

/** What an action's `run` gets besides its input. */
export interface ActionContext<C> {
  /** the config the gateway runs with, as this plugin's commands see it (every instance of its type) */
  config: PluginConfigView<C>;
  /** the instance the action was called for */
  instance: PluginInstance<C>;
}

/**
 * The sync progress of an output that syncs off the premises, as the live status shows it
 * (`outputs[].sync`): paused, bandwidth used against the cap, what is queued, ETA.
 */
export const syncSectionSchema = z.object({
  paused: z.boolean(),
  /** the last measured upload rate and the cap that applies now (null: unlimited) */
  bandwidth: z.object({ usedBitsPerSecond: z.number().nullable(), capBitsPerSecond: z.number().nullable() }),
  queue: z.object({ objects: z.number(), bytes: z.number(), bytesLeft: z.number() }),
  synced: z.object({ objects: z.number(), bytes: z.number() }),
  /** seconds to upload what is queued at the measured rate; null when unknown, 0 when nothing is queued */
  etaSeconds: z.number().nullable(),
  lastError: z.string().nullable(),
});
export type SyncSection = z.infer<typeof syncSectionSchema>;

/** The status sections an action can feed, by name. */
export interface StatusSections {
  sync: SyncSection;
}

export interface PluginAction<C, I extends z.ZodType = z.ZodType, O extends z.ZodType = z.ZodType> {
  /** one line for the OpenAPI document */
  description: string;
  /** the lowest role that may call it */
  role: ActionRole;
  /** false: a read (GET, input from the query string); true: a change (POST, input from the body, audited) */
  changes: boolean;
  /** a strict object; `z.strictObject({})` for none */
  input: I;
  output: O;
  run(input: z.output<I>, ctx: ActionContext<C>): Promise<z.input<O>> | z.input<O>;
  /** read by the live status at every interval (an action with no input, that changes nothing) */
  status?: { [S in keyof StatusSections]: { section: S; summary(output: z.output<O>, ctx: ActionContext<C>): StatusSections[S] } }[keyof StatusSections];
}

/** A plugin's actions by name (lowercase words joined by `-`: the last segment of its URL). */
// biome-ignore lint/suspicious/noExplicitAny: each action of a plugin has its own input and output schema
export type PluginActions<C> = Readonly<Record<string, PluginAction<C, any, any>>>;

/** Declares one action with its input and output types checked against `run` (an identity function). */
export function defineAction<C>() {
  return <I extends z.ZodType, O extends z.ZodType>(action: PluginAction<C, I, O>): PluginAction<C, I, O> => action;
}
