/**
 * The import rules of docs/ARCHITECTURE.md, checked in CI (`npm run lint:imports`).
 *
 * Production code only: tests and test support may reach across (a plugin's integration test drives the real
 * buffer and pipeline), but nothing that ships imports a test file or a test helper.
 */
const TESTS = '(\\.test\\.ts$|(^|/)test-support/|^test/|^simulator/test/)';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      severity: 'error',
      comment:
        "Modules form a tree of layers; a cycle means two modules are one job or one is in the wrong layer. A plugin's lazy definition loading its implementation by a dynamic import (definition.ts -> index.ts, which spreads the definition) is the one loop allowed.",
      from: { pathNot: TESTS },
      to: { circular: true, pathNot: TESTS, viaOnly: { dependencyTypesNot: ['dynamic-import'] } },
    },
    {
      name: 'wire-imports-nothing-of-ours',
      severity: 'error',
      comment: 'wire/ holds the protocol codecs the gateway and the simulator share; it depends on neither.',
      from: { path: '^wire/', pathNot: TESTS },
      to: { path: '^(gateway|plugins|simulator|test)/' },
    },
    {
      name: 'simulator-imports-only-wire',
      severity: 'error',
      comment: 'The simulator stands for the machine: it speaks the wire formats and knows nothing of the gateway.',
      from: { path: '^simulator/', pathNot: TESTS },
      to: { path: '^(gateway|plugins|test)/' },
    },
    {
      name: 'client-imports-only-wire',
      severity: 'error',
      comment: 'client/ is what plant software imports (layergate/client): it speaks the wire formats and carries none of the gateway.',
      from: { path: '^client/', pathNot: TESTS },
      to: { path: '^(gateway|plugins|simulator|test)/' },
    },
    {
      name: 'plugins-import-only-the-plugin-api-and-wire',
      severity: 'error',
      comment: 'A plugin knows its protocol, the plugin API and wire/, nothing of the core, the simulator or other plugins.',
      from: { path: '^plugins/', pathNot: TESTS },
      to: { path: '^(gateway/(?!plugin-api/)|simulator/|test/)' },
    },
    {
      name: 'no-plugin-imports-another-plugin',
      severity: 'error',
      comment: 'Plugins share code only through plugins/outputs/shared/ (outputs) or the plugin API.',
      from: { path: '^plugins/(inputs|outputs)/([^/]+)/', pathNot: TESTS },
      to: { path: '^plugins/(inputs|outputs)/', pathNot: ['^plugins/$1/$2/', '^plugins/outputs/shared/'] },
    },
    {
      name: 'core-reaches-plugins-only-through-the-registry',
      severity: 'error',
      comment: 'gateway/runtime/registry.ts lists the plugins; the rest of the core knows them only through it.',
      from: { path: '^gateway/', pathNot: [TESTS, '^gateway/runtime/registry\\.ts$'] },
      to: { path: '^plugins/' },
    },
    {
      name: 'core-never-imports-the-simulator',
      severity: 'error',
      comment: 'The demo command starts the simulator as a process; no gateway module imports it.',
      from: { path: '^gateway/', pathNot: TESTS },
      to: { path: '^simulator/' },
    },
    {
      name: 'production-never-imports-tests',
      severity: 'error',
      comment: 'Test helpers live in test-support folders that the build leaves out.',
      from: { pathNot: TESTS },
      to: { path: TESTS },
    },
    {
      name: 'no-unresolvable-imports',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|dist|\\.services)/' },
    parser: 'swc',
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'], extensions: ['.ts', '.js', '.json'] },
    moduleSystems: ['es6', 'cjs'],
  },
};
