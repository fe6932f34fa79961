// The layers, lowest first: a module may import from its own layer and the ones before it, never
// from a later one, so no cycle can run between folders. ARCHITECTURE.md explains each layer.
// `npm run lint` runs this check.
const LAYERS = ['base', 'cache', 'core', 'plugins', 'pipelines', 'publish', 'boot', 'cli'];

const upward = LAYERS.slice(0, -1).map((layer, i) => ({
  name: `${layer}-imports-upward`,
  comment: `${layer}/ is below ${LAYERS.slice(i + 1).join(', ')}: it may not import from them`,
  severity: 'error',
  from: { path: `^${layer}/` },
  to: { path: `^(${LAYERS.slice(i + 1).join('|')})/` },
}));

module.exports = {
  forbidden: [
    ...upward,
    {
      name: 'layers-do-not-import-the-package-entry',
      severity: 'error',
      from: { path: `^(${LAYERS.join('|')})/` },
      to: { path: '^(index|bundle-entry)\\.ts$' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: '^(dist|node_modules|test/fixtures)/' },
  },
};
