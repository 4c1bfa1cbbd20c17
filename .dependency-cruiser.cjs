// The house plan, checked by test/unit/layering.test.ts (npm test): which
// top-level folder may import which. The folders are the architecture
// (README, "Layout"); imports run one way.
const SOURCE = '^(common|policy|helper|translator|snapshotter|cli)/';

/** A folder may import only the folders listed after it (and itself). */
const may = {
  common: [],
  policy: ['common'],
  helper: ['common', 'policy'],
  translator: ['common', 'policy', 'helper/api'],
  snapshotter: ['common', 'policy', 'helper/api'],
  cli: ['common', 'policy', 'helper/api', 'translator'],
};

const layering = Object.entries(may).map(([folder, allowed]) => ({
  name: `${folder}-imports-only-${allowed.join('-') || 'itself'}`,
  comment: `${folder}/ may import ${allowed.length === 0 ? 'nothing of the project' : allowed.join(', ')} (and itself)`,
  severity: 'error',
  from: { path: `^${folder}/` },
  to: { path: SOURCE, pathNot: [`^${folder}/`, ...allowed.map((a) => `^${a}/`)] },
}));

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'no import cycles anywhere',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'helper-public-surface',
      comment: 'outside helper/, only helper/api/ (request types and checks, probe report, client, wire) may be imported; tests may reach in',
      severity: 'error',
      from: { path: '^(common|policy|translator|snapshotter|cli|harness|bench|demo)/' },
      to: { path: '^helper/', pathNot: '^helper/api/' },
    },
    ...layering,
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|dist)/' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
  },
};
