/**
 * Per-sink metrics in Prometheus form: a prom-client collector over the forwarders' `stats()`, so a
 * metrics endpoint (or a test) reads delivered records and bytes, lag in records and seconds, retries,
 * errors by kind and quarantined records per sink without the forwarders knowing about Prometheus.
 *
 * Design constraint: values are read at scrape time from `stats()` (the forwarder's own counters are
 * the single source); nothing is counted twice and a scrape never blocks a forwarder.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import type { ForwarderStats } from './forwarder.js';

/** Register the sink metrics on `registry`; `sinks` is called at every scrape. Returns the registry. */
export function registerForwarderMetrics(sinks: () => readonly { stats(): ForwarderStats }[], registry: Registry = new Registry()): Registry {
  const read = () => sinks().map((f) => f.stats());
  const counter = (name: string, help: string, value: (s: ForwarderStats) => number) =>
    new Counter({
      name,
      help,
      labelNames: ['sink'],
      registers: [registry],
      collect() {
        this.reset();
        for (const s of read()) this.inc({ sink: s.sink }, value(s));
      },
    });
  const gauge = (name: string, help: string, value: (s: ForwarderStats) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['sink'],
      registers: [registry],
      collect() {
        this.reset();
        for (const s of read()) this.set({ sink: s.sink }, value(s));
      },
    });
  counter('layergate_sink_delivered_records_total', 'records the sink acknowledged', (s) => s.sentRecords);
  counter('layergate_sink_delivered_bytes_total', 'body bytes of the records the sink acknowledged', (s) => s.sentBytes);
  counter('layergate_sink_retries_total', 'sends of records that had failed before', (s) => s.retries);
  counter('layergate_sink_quarantined_records_total', 'records the sink refused for good, kept in its quarantine folder', (s) => s.quarantinedRecords);
  gauge('layergate_sink_lag_records', 'records routed to the sink and not yet acknowledged', (s) => s.lagRecords);
  gauge('layergate_sink_lag_seconds', 'age of the oldest record not yet acknowledged by the sink', (s) => s.lagSeconds);
  // 1 while the sink refuses everything for a configuration reason (credentials, permissions, a missing
  // bucket or topic): its records wait in the buffer, so an alert on this names the cause, not just the lag
  gauge('layergate_sink_config_failing', 'sink refuses every record because of its configuration (1) or not (0)', (s) => (s.configFailure ? 1 : 0));
  new Counter({
    name: 'layergate_sink_errors_total',
    help: 'failed sends by kind (retryable reasons, permanent refusals)',
    labelNames: ['sink', 'kind'],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of read()) for (const [kind, n] of Object.entries(s.errorsByKind)) this.inc({ sink: s.sink, kind }, n);
    },
  });
  return registry;
}
