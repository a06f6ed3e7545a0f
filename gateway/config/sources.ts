/**
 * Every name a record's `source` can have: the configured inputs, and the input of the gRPC API's
 * Store calls (`api.grpc.input`, default `grpc`) when the API serves it. Classification rules and
 * `layergate explain` name sources by these; a leaf module, so the policy can use it without the API.
 */
export interface SourcesConfig {
  inputs: Readonly<Record<string, unknown>>;
  api?: { enabled?: boolean; grpc?: { enabled?: boolean; input?: string } } | undefined;
}

/** the gRPC API's Store input, when the API serves it */
export function apiInputName(config: SourcesConfig): string | undefined {
  const api = config.api;
  if (api?.enabled === false || api?.grpc?.enabled === false) return undefined;
  return api?.grpc?.input ?? 'grpc';
}

export function recordSources(config: SourcesConfig): string[] {
  const api = apiInputName(config);
  const names = Object.keys(config.inputs);
  return api === undefined || names.includes(api) ? names : [...names, api];
}
