/**
 * The allowed import directions of lib/ (docs/ARCHITECTURE.md, "Layers"), checked by
 * dependency-cruiser in `npm test` (test/architecture/dependency-rules.spec.ts).
 *
 * Bottom to top: errors, interfaces and constants; lens and the graph (plain TypeScript);
 * dialect (PostgreSQL's statements); model; read; runs; execution; engines; planner, registry
 * and discovery; the service, the module and index. A layer imports only layers below it.
 */
const LOW = '^lib/((errors|interfaces|lens|dialect|read|runs|telemetry)/|model/projection\\.model\\.ts)';
const ENGINE = '^lib/(engines|execution)/';
/** Change capture sits beside the service: it may use everything below, nothing below may use it. */
const CAPTURE = '^lib/capture/';
const UPPER =
  '^lib/(cinema\\.service|cinema\\.module|index|model/projection\\.registry|model/model\\.factory|planning/cinema\\.planner|discovery/|http/)';

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Import cycles make the load order (and decorator metadata) fragile.',
      from: { path: '^lib/' },
      to: { circular: true, dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'engines-import-no-upward',
      severity: 'error',
      comment:
        'Engines and execution receive what they need (a catalog, a plan); they never reach up to the registry, planner, discovery or the service.',
      from: { path: ENGINE },
      to: { path: [UPPER, CAPTURE] },
    },
    {
      name: 'capture-imports-no-wiring',
      severity: 'error',
      comment: 'Change capture uses the model, planning, read side and execution; never the service, the module or discovery.',
      from: { path: CAPTURE },
      to: { path: '^lib/(cinema\\.service|cinema\\.module|index|discovery/|http/)' },
    },
    {
      name: 'low-layers-import-no-engines',
      severity: 'error',
      comment: 'The model, lens, dialect, read side and run records know nothing of engines or of the Nest wiring above them.',
      from: { path: LOW },
      to: { path: [ENGINE, UPPER, CAPTURE, '^lib/planning/cinema\\.planner'] },
    },
    {
      name: 'pure-core-without-nest',
      severity: 'error',
      comment: 'The lens, the graph, the dialect and the errors are plain TypeScript: no Nest at run time.',
      from: { path: '^lib/(lens|dialect|errors)/|^lib/planning/projection-graph\\.ts' },
      to: { path: '@nestjs', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'only-index-exports-the-module',
      severity: 'error',
      comment: 'The module and the service sit at the top: only index.ts (and the module, for the service) import them.',
      from: { path: '^lib/', pathNot: '^lib/(index|cinema\\.module)\\.ts$' },
      to: { path: '^lib/(cinema\\.module|cinema\\.service)\\.ts$' },
    },
    {
      name: 'cli-is-a-user',
      severity: 'error',
      comment:
        'The command line (cinema-nestjs/cli) uses the public surfaces only (the package, and the board for HTML graphs), as an application would.',
      from: { path: '^lib/cli/' },
      to: { path: '^lib/', pathNot: ['^lib/cli/', '^lib/index\\.ts$', '^lib/board/index\\.ts$'] },
    },
    {
      name: 'board-is-a-user',
      severity: 'error',
      comment: 'The board (cinema-nestjs/board) uses the public surface only, as an application would.',
      from: { path: '^lib/board/' },
      to: { path: '^lib/', pathNot: ['^lib/board/', '^lib/index\\.ts$'] },
    },
    {
      name: 'nothing-imports-the-board',
      severity: 'error',
      comment: 'The board is its own entry point: only the command line (for HTML graphs) may load it, through its index.',
      from: { path: '^lib/', pathNot: '^lib/(board|cli)/' },
      to: { path: '^lib/board/' },
    },
    {
      name: 'nothing-imports-the-cli',
      severity: 'error',
      comment: 'nest-commander is an optional peer: only lib/cli (its own entry point) may load it.',
      from: { path: '^lib/', pathNot: '^lib/cli/' },
      to: { path: ['^lib/cli/', 'nest-commander'] },
    },
    {
      name: 'library-stands-alone',
      severity: 'error',
      comment: 'The library never imports the sample app, the tests or the benchmarks.',
      from: { path: '^lib/' },
      to: { path: '^(sample-app|test|bench)/' },
    },
    {
      name: 'no-missing-modules',
      severity: 'error',
      comment: 'An import that does not resolve.',
      from: { path: '^lib/' },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    parser: 'swc',
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
