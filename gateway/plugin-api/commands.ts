/**
 * Plugin subcommands of `layergate`: a plugin definition may export `commands` (the OPC-UA input's
 * `pki`, the cloud output's `sync`). gateway/cli/main.ts adds them to its commander program through
 * the registry and hands each a `CommandContext`: everything a command needs of the gateway (the
 * validated config as this plugin sees it, exit codes, the JSON form of `--json` output) comes
 * through it, so a plugin's commands import nothing of the core.
 *
 * Constraints: a command reads the config only through `ctx.load`, validated exactly as `layergate
 * run` validates it (a bad config ends the command with exit code 2 before anything is opened); it
 * ends a failure by throwing `ctx.fail(code, message)` with one of `ctx.exit`, which the CLI prints
 * to stderr and turns into the exit code.
 */
import type { Command } from 'commander';

/** The exit codes of every `layergate` command. */
export interface ExitCodes {
  readonly ok: 0;
  /** a runtime failure */
  readonly failure: 1;
  /** an invalid configuration or usage */
  readonly config: 2;
  /** a check ran and found problems (`buffer check`, `audit verify`, `sync verify`) */
  readonly checkFailed: 3;
}

/** One configured instance of the plugin: its config key and its own settings, as `create` gets them. */
export interface PluginInstance<C> {
  name: string;
  settings: C;
}

/** The validated config as a plugin's command sees it. */
export interface PluginConfigView<C> {
  /** where the config came from: a file path or '(defaults)' */
  origin: string;
  /** `gateway.dataDir`, absolute */
  dataDir: string;
  /** `gateway.machine` */
  machine: string;
  /** the configured instances of this plugin's type, in config order */
  instances: PluginInstance<C>[];
}

export interface LoadViewOptions {
  /**
   * 'keep': a `${VAR}` of the config that is not set stays as written instead of ending the command
   * (for a command that reads none of the settings that need one: `pki` reads folders, not secrets).
   * A setting the command uses must then be checked for a leftover `${`.
   */
  unsetVariables?: 'error' | 'keep';
}

export interface CommandContext<C> {
  /**
   * Load and validate the config: `file` as given by `-c`, else $LAYERGATE_CONFIG, else the built-in
   * defaults. An invalid config ends the command (exit code 2, every problem on stderr).
   */
  load(file: string | undefined, options?: LoadViewOptions): PluginConfigView<C>;
  /** an error that ends the command with this exit code and message */
  fail(exitCode: number, message: string): Error;
  readonly exit: ExitCodes;
  /** a value as the `--json` output of every `layergate` command prints it */
  json(value: unknown): string;
}

/** Adds the plugin's subcommands to the `layergate` program. */
export type PluginCommands<C> = (program: Command, ctx: CommandContext<C>) => void;
