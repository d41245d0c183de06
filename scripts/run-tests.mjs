#!/usr/bin/env node
// Runs the project's *.test.ts files with node's own test runner, one file at a time.
// Node 20's --test takes no glob, so the files are found here. Arguments are folders or files;
// without arguments every suite folder that exists is run. Exits non-zero when a test fails,
// when node's runner fails, or when no test ran at all. Ends with one plain line
// "run-tests: N passed, N failed, N skipped" after node's own summary.
// Each run has an id and a folder of its own (the tests' TMPDIR); after the tests, whatever they
// started and left is looked for (scripts/leak-check.mjs): a leftover fails the run, named, and is
// then removed so that it does not stay on the machine.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanLeaks, findLeaks, removeRunDir } from './leak-check.mjs';

const repoRoot = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const defaultSuites = ['test/unit', 'test/integration', 'test/pve-sim', 'test/e2e'];

function findTestFiles(dir) {
  const found = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'node_modules') found.push(...findTestFiles(full));
    } else if (entry.isFile() && entry.name.endsWith('.test.ts')) {
      found.push(full);
    }
  }
  return found;
}

function collect(args) {
  const explicit = args.length > 0;
  const targets = explicit ? args : defaultSuites;
  const files = [];
  for (const target of targets) {
    const full = path.resolve(repoRoot, target);
    if (!fs.existsSync(full)) {
      if (explicit) throw new Error(`run-tests: ${target} does not exist`);
      continue;
    }
    if (fs.statSync(full).isDirectory()) files.push(...findTestFiles(full).sort());
    else files.push(full);
  }
  return [...new Set(files)];
}

/** Reads the totals from a TAP stream written by node's tap reporter ("# tests N", "# fail N"). */
function readTotals(tapText) {
  const number = (name) => {
    const match = tapText.match(new RegExp(`^# ${name} (\\d+)$`, 'm'));
    return match ? Number(match[1]) : undefined;
  };
  return { tests: number('tests'), pass: number('pass'), fail: number('fail'), skipped: number('skipped') };
}

/**
 * Node reports a file that defined no test as one passing test named after the file.
 * Returns those files, so that they are not taken for tests that ran.
 */
function filesWithoutTests(tapText, testFiles) {
  const relative = new Set(testFiles.map((f) => path.relative(repoRoot, f)));
  const empty = [];
  for (const match of tapText.matchAll(/^ok \d+ - (.+)$/gm)) {
    const name = match[1] ?? '';
    if (relative.has(name) || testFiles.includes(name)) empty.push(name);
  }
  return empty;
}

let files;
try {
  files = collect(process.argv.slice(2));
} catch (error) {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
}
if (files.length === 0) {
  console.error('run-tests: no *.test.ts files found');
  process.exit(1);
}

const tapDir = fs.mkdtempSync(path.join(os.tmpdir(), 'proxrun-run-tests-'));
// This run's id and folder: short, since sockets are made below it (108 bytes at most).
const runId = randomBytes(6).toString('hex');
const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'prt-'));
// Like /tmp: unprivileged containers' mapped root and other users the tests act as must reach in.
fs.chmodSync(runDir, 0o1777);
const ledgerFile = path.join(runDir, 'ledger');
const tapFile = path.join(tapDir, 'results.tap');
// A test that hangs must not eat CI's whole budget: node >= 20.11 knows --test-timeout.
const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
const perTestTimeout = major > 20 || (major === 20 && minor >= 11) ? ['--test-timeout=600000'] : [];
const nodeArgs = [
  '--import', 'tsx',
  '--test',
  '--test-concurrency=1',
  ...perTestTimeout,
  '--test-reporter=spec', '--test-reporter-destination=stdout',
  '--test-reporter=tap', `--test-reporter-destination=${tapFile}`,
  ...files.map((f) => path.relative(repoRoot, f)),
];
console.log(`run-tests: ${files.length} test file(s)`);

const env = { ...process.env, PROXRUN_TEST_RUN: runId, TMPDIR: runDir, PROXRUN_TEST_LEDGER: ledgerFile };
const child = spawn(process.execPath, nodeArgs, { cwd: repoRoot, stdio: 'inherit', env });
const forward = (signal) => child.kill(signal);
process.on('SIGINT', forward);
process.on('SIGTERM', forward);

child.on('close', (code, signal) => {
  const tap = fs.existsSync(tapFile) ? fs.readFileSync(tapFile, 'utf8') : '';
  fs.rmSync(tapDir, { recursive: true, force: true });
  const totals = readTotals(tap);
  const empty = filesWithoutTests(tap, files);
  for (const name of empty) console.error(`run-tests: ${name} defined no test`);
  const ran = (totals.tests ?? 0) - empty.length;
  let exitCode = code ?? 1;
  if (signal) {
    console.error(`run-tests: test runner ended by ${signal}`);
    exitCode = 1;
  } else if (totals.tests === undefined) {
    console.error('run-tests: the test runner wrote no totals');
    exitCode = 1;
  } else if (ran <= 0) {
    console.error('run-tests: no test ran');
    exitCode = 1;
  } else if ((totals.fail ?? 0) > 0 && exitCode === 0) {
    exitCode = 1;
  }
  // What the tests left: named, failing the run, then removed (and looked for once more).
  let leaks;
  try {
    leaks = findLeaks({ runId, runDir, ledgerFile });
  } catch (error) {
    console.error(`run-tests: could not look for what the tests left: ${error instanceof Error ? error.message : String(error)}`);
    exitCode = 1;
    leaks = [];
  }
  if (leaks.length > 0) {
    exitCode = 1;
    console.error(`run-tests: the tests left ${leaks.length} thing(s) of their own behind:`);
    for (const leak of leaks) console.error(`run-tests:   ${leak.what}`);
    cleanLeaks(leaks, { repoRoot });
    const still = findLeaks({ runId, runDir, ledgerFile });
    for (const leak of still) console.error(`run-tests:   could not remove: ${leak.what}`);
    if (still.length === 0) console.error('run-tests: removed them all');
  }
  if (!removeRunDir(runDir)) console.error(`run-tests: ${runDir} kept: something is still mounted in it`);
  if (totals.tests !== undefined) {
    // One plain closing line, counting real tests only (files that defined none are not passes).
    const passed = Math.max(0, (totals.pass ?? 0) - empty.length);
    console.log(`run-tests: ${passed} passed, ${totals.fail ?? 0} failed, ${totals.skipped ?? 0} skipped${leaks.length > 0 ? `, ${leaks.length} leftover(s)` : ''}`);
  }
  process.exit(exitCode);
});
