#!/usr/bin/env node
// Runs the end-to-end suite of `ferrum serve` with the official OpenAI client.
//   node tests/server_e2e/run.mjs --ferrum build/cpu/src/ferrum [--fixtures ../shared/fixtures] [FILTER...]
// Needs `npm ci` in this directory first (scripts/test.sh does it). Each *.test.mjs file starts the
// servers it needs on free loopback ports and stops them at the end.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  if (i < 0) return fallback;
  const [value] = args.splice(i, 2).slice(1);
  return value;
};
const ferrum = path.resolve(option('--ferrum', path.join(here, '../../build/cpu/src/ferrum')));
const fixtures = path.resolve(option('--fixtures', path.join(here, '../../../shared/fixtures')));

const major = Number(process.versions.node.split('.')[0]);
if (major < 20) {
  console.error(`server e2e: Node.js 20 or later is needed (the openai package requires it), found ${process.version}`);
  process.exit(1);
}
if (!existsSync(path.join(here, 'node_modules', 'openai'))) {
  console.error(`server e2e: the openai package is missing: run \`npm ci\` in ${here}`);
  process.exit(1);
}
for (const [what, where] of [['ferrum binary', ferrum], ['fixtures', fixtures]]) {
  if (!existsSync(where)) {
    console.error(`server e2e: no ${what} at ${where}`);
    process.exit(1);
  }
}

const filters = args;
const files = readdirSync(here)
  .filter((f) => f.endsWith('.test.mjs'))
  .filter((f) => filters.length === 0 || filters.some((filter) => f.includes(filter)))
  .sort()
  .map((f) => path.join(here, f));
// One file at a time: CI has two cores, and each file runs its own servers.
const result = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...files], {
  stdio: 'inherit',
  env: { ...process.env, FERRUM_BIN: ferrum, FERRUM_FIXTURES: fixtures },
});
process.exit(result.status ?? 1);
