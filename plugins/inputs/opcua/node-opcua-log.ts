/**
 * node-opcua writes its warnings and errors with console.log, i.e. to stdout, where the gateway's
 * JSON log lines go: one stray line breaks every consumer of that stream. This module, imported
 * before node-opcua itself (import order is evaluation order), routes them into the gateway's pino
 * logger (the one of the input started last) at debug level, prefixed with node-opcua's own
 * context. Before any input started (e.g. the PKCS#1 v1.5 notice printed while node-opcua loads,
 * irrelevant here: Basic128Rsa15 is not offered) they are dropped. The input logs what matters
 * (connect failures, untrusted certificates, gaps) itself, with context an operator can act on.
 *
 * node-opcua-debug is node-opcua's own logging module (a dependency of node-opcua, one copy in
 * node_modules); node-opcua re-exports the same setters, but importing node-opcua would already
 * have printed.
 */
import { format } from 'node:util';
import { setDebugLogger, setErrorLogger, setWarningLogger } from 'node-opcua-debug';
import type { Logger } from 'pino';

let sink: Logger | undefined;

/** Send node-opcua's messages to this logger from now on. */
export function routeNodeOpcuaLogs(log: Logger): void {
  sink = log;
}

const forward =
  (level: 'warn' | 'error') =>
  (context: unknown, ...args: unknown[]) => {
    if (!sink?.isLevelEnabled('debug')) return;
    const where = context && typeof context === 'object' && 'filename' in context ? String((context as { filename: unknown }).filename) : undefined;
    sink.debug({ nodeOpcua: level, ...(where ? { where } : {}) }, format(...args));
  };

setWarningLogger(forward('warn'));
setErrorLogger(forward('error'));
setDebugLogger(() => undefined);
