/**
 * The dependency check (issue 9), run by scripts/test.sh right after the linter:
 *   npx depcruise --config .dependency-cruiser.cjs packages/<every package>/src
 * It fails on
 *   - an import cycle anywhere in packages/<pkg>/src. Type-only imports count (`tsPreCompilationDeps`
 *     below: the TypeScript source is read before compilation erases them): a type cycle is still
 *     two modules that cannot be understood apart;
 *   - a package reaching into another one other than through its public entry (`@writeback/<pkg>`,
 *     the files its package.json `exports` name), e.g. a relative path into another package's src;
 *   - in packages/cloud/src, an import that points up the layers, top to bottom:
 *       adapters   http/, web/
 *       use cases  usecases/
 *       domain     everything else (i18n/ included), except store/ and the roots below
 *       store      store/
 *     An import may point down (skipping layers is fine) or sideways within a layer, never up; the
 *     store imports nothing outside store/ but errors.ts. The composition roots (app.ts, main.ts,
 *     services.ts: the Services wiring type) and the package's public entries (index.ts, and
 *     testing.ts for `@writeback/cloud/testing`) are exempt from the layer rules, not from the
 *     cycle rule.
 * ARCHITECTURE.md describes the same shape; this file is what keeps it true.
 */
const { existsSync, readdirSync, readFileSync } = require('node:fs');
const { join } = require('node:path');

const esc = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** packages/<dir> → the files its package.json `exports` name (its public entries). */
function publicEntries() {
  const out = [];
  for (const dir of readdirSync(join(__dirname, 'packages'))) {
    const file = join(__dirname, 'packages', dir, 'package.json');
    if (!existsSync(file)) continue;
    const { exports } = JSON.parse(readFileSync(file, 'utf8'));
    const targets = typeof exports === 'string' ? [exports] : Object.values(exports ?? {});
    for (const t of targets) {
      if (typeof t === 'string') out.push(`packages/${dir}/${t.replace(/^\.\//, '')}`);
    }
  }
  return out;
}
const ENTRIES = publicEntries();

const CLOUD = 'packages/cloud/src/';
/** Exempt from the cloud's layer rules (not from the cycle rule). */
const CLOUD_ROOTS = [
  ...['app.ts', 'main.ts', 'services.ts', 'index.ts'].map((f) => `${CLOUD}${f}`),
  ...ENTRIES.filter((e) => e.startsWith(CLOUD)),
];
const ROOTS_RE = CLOUD_ROOTS.map((f) => `^${esc(f)}$`);

/**
 * Known violations (issue 9, being removed): imports that break a rule today, allowed one by one
 * (this exact `from` file importing this exact `to` file, for this rule only) so that any NEW
 * violation fails. Remove an entry as soon as the import is gone; never add one.
 *   { rule: '<rule name>', from: 'packages/…', to: 'packages/…', why: '…' }
 * Empty now: usecases/recovery/finish.ts no longer imports web/write, web/session or
 * web/identity, users/sign-in.ts moved to usecases/, and web/admin/guard.ts ↔ layout.ts share
 * web/admin/context.ts instead of importing each other.
 */
const KNOWN_VIOLATIONS = [];

/**
 * A rule with its known violations carved out: the rule itself no longer looks at the files that
 * have some, and one copy per such file looks at it with only its listed targets excused.
 */
function withKnown(rule) {
  const known = KNOWN_VIOLATIONS.filter((k) => k.rule === rule.name);
  if (known.length === 0) return [rule];
  const froms = [...new Set(known.map((k) => k.from))];
  const asList = (v) => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
  return [
    { ...rule, from: { ...rule.from, pathNot: [...asList(rule.from.pathNot), ...froms.map((f) => `^${esc(f)}$`)] } },
    ...froms.map((f) => ({
      ...rule,
      comment: `${rule.comment} (known violations of ${f} excused: issue 9, being removed)`,
      from: { ...rule.from, path: `^${esc(f)}$` },
      to: {
        ...rule.to,
        pathNot: [
          ...asList(rule.to.pathNot),
          ...known.filter((k) => k.from === f).map((k) => `^${esc(k.to)}$`),
        ],
      },
    })),
  ];
}

/** A forbidden import (every rule here is an error): modules matching `from` may not import `to`. */
const forbid = (name, comment, from, to) => ({ name, severity: 'error', comment, from, to });

const rules = [
  forbid(
    'no-circular',
    'no import cycle in packages/*/src, type-only imports included',
    { path: '^packages/[^/]+/src/' },
    { circular: true },
  ),
  forbid(
    'only-public-entries-across-packages',
    "a package imports another only as @writeback/<pkg> (its package.json exports), never by a path into the other's files",
    { path: '^packages/([^/]+)/' },
    { path: '^packages/', pathNot: ['^packages/$1/', ...ENTRIES.map((e) => `^${esc(e)}$`)] },
  ),
  forbid(
    'no-relative-path-across-packages',
    'a relative path into another package (even to its entry file) bypasses its package.json and its exports',
    { path: '^packages/([^/]+)/' },
    { path: '^packages/', pathNot: '^packages/$1/', dependencyTypes: ['local'] },
  ),
  forbid(
    'resolvable',
    'every import resolves (otherwise the rules above would not see where it points)',
    { path: '^packages/[^/]+/src/' },
    { couldNotResolve: true },
  ),
  forbid(
    'cloud-store-imports-nothing-above',
    'store/ is the bottom layer: it imports only store/ and errors.ts of the cloud',
    { path: `^${CLOUD}store/` },
    { path: `^${CLOUD}`, pathNot: [`^${CLOUD}store/`, `^${CLOUD}errors\\.ts$`] },
  ),
  forbid(
    'cloud-domain-not-up',
    'the domain (not store/, usecases/, http/, web/ or a root) never imports use cases or adapters',
    { path: `^${CLOUD}`, pathNot: [`^${CLOUD}(store|usecases|http|web)/`, ...ROOTS_RE] },
    { path: `^${CLOUD}(usecases|http|web)/` },
  ),
  forbid(
    'cloud-usecases-not-up',
    'use cases never import the adapters (http/, web/)',
    { path: `^${CLOUD}usecases/` },
    { path: `^${CLOUD}(http|web)/` },
  ),
];

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: rules.flatMap(withKnown),
  options: {
    doNotFollow: { path: 'node_modules' },
    // Read the TypeScript source before compilation, so type-only imports are dependencies too.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    // Resolve `@writeback/<pkg>` through the workspace links and each package's `exports`.
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.js', '.mjs', '.cjs', '.d.ts'],
    },
  },
};
