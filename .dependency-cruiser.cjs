// Import rules (npm run lint:deps; .ci/run runs it). docs/architecture.md explains them.
//
// Data flows one way through the core: decode -> normalize -> store -> query -> detect -> render.
// A folder may import the folders before it, never one after it. model (types, schema, units,
// time) and stats (pure maths) are leaves every layer may use; stats imports nothing of ours.
// The edges (api, aws, infra, scrape, bin, lambdas) may import the core and each other, the core
// never an edge, and never an AWS package: the CLI runs the same core on a laptop.

const CORE = ['decode', 'normalize', 'store', 'query', 'detect', 'render'];
const LEAVES = ['model', 'stats'];
const EDGES = '^(lib/(api|aws|infra|scrape)/|bin/|lambdas/)';
const AWS_PACKAGES = '(^|/)node_modules/(@aws-sdk|@aws-lambda-powertools|aws-cdk-lib|aws-cdk|constructs|cdk-nag)/';
// The core plus the leaves and the pipeline files at lib/ level (ingest), and the public API.
const CORE_PATHS = `^lib/((${[...CORE, ...LEAVES].join('|')})/|[^/]+\\.ts$)`;

/** decode may import nothing after it, normalize nothing after normalize, ... */
const direction = CORE.map((layer, i) => ({
  name: `layer-${layer}`,
  comment: `${layer} is before ${CORE.slice(i + 1).join(', ') || 'nothing'} in the data flow: it may not import them`,
  severity: 'error',
  from: { path: `^lib/${layer}/` },
  to: { path: `^lib/(${CORE.slice(i + 1).join('|') || '$^'})/` },
})).filter((r) => !r.to.path.includes('$^'));

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'An import cycle (between files) means two files are one concept or a type sits in the wrong home.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'core-not-edges',
      comment: 'The core (decode .. render, model, stats, lib/*.ts) must not import the edges (api, aws, infra, scrape, bin, lambdas).',
      severity: 'error',
      from: { path: CORE_PATHS },
      to: { path: EDGES },
    },
    {
      name: 'core-not-aws',
      comment: 'The core must not import an AWS SDK, Powertools or CDK package: only lib/aws, lib/infra, lambdas and bin do.',
      severity: 'error',
      from: { path: CORE_PATHS },
      to: { path: AWS_PACKAGES },
    },
    ...direction,
    {
      name: 'leaves-import-leaves',
      comment: 'model and stats are leaves: they import nothing of the layers (stats nothing of ours at all).',
      severity: 'error',
      from: { path: '^lib/model/' },
      to: { path: `^lib/(${CORE.join('|')}|stats)/|${EDGES}|^lib/[^/]+\\.ts$` },
    },
    {
      name: 'stats-is-a-leaf',
      comment: 'lib/stats imports nothing of ours.',
      severity: 'error',
      from: { path: '^lib/stats/' },
      to: { path: '^(lib|bin|lambdas)/', pathNot: '^lib/stats/' },
    },
    {
      name: 'layers-not-pipeline',
      comment: 'The layers do not import the pipeline files at lib/ level (lib/ingest*.ts, lib/index.ts): those compose the layers.',
      severity: 'error',
      from: { path: `^lib/(${[...CORE, ...LEAVES].join('|')})/` },
      to: { path: '^lib/[^/]+\\.ts$' },
    },
    {
      name: 'no-orphans',
      comment: 'A module nothing imports (not even a test) is dead code; entry points excepted: the CLI, the CDK app, the Lambdas, the public API, tests and benchmarks.',
      severity: 'error',
      from: { orphan: true, pathNot: ['^bin/(fleetprof|app|gen-docs)\\.ts$', '^lambdas/[^/]+\\.ts$', '^lib/index\\.ts$', '^(test|bench|scripts)/', '\\.d\\.ts$'] },
      to: {},
    },
    {
      name: 'not-to-test',
      comment: 'Product code does not import tests, benchmarks or scripts.',
      severity: 'error',
      from: { path: '^(lib|bin|lambdas)/' },
      to: { path: '^(test|bench|scripts)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|cdk\\.out)/' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
  },
};
