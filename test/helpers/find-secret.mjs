#!/usr/bin/env node
// Looks for secrets the way another local user would: run as that user (e.g. with
// `setpriv --reuid=65534 --regid=65534 --clear-groups node find-secret.mjs DIR...`), it reads the
// secrets, one per line, from stdin (never from its own command line, which every user can read),
// then every regular file under each DIR it can open (no symlinks followed, files over 8 MiB
// skipped) and every /proc/PID/cmdline and /proc/PID/environ it can read, and prints one line
// `SECRET-INDEX<TAB>PATH` for each match. Plain JavaScript, so no TypeScript loader is needed.
import fs from 'node:fs';
import path from 'node:path';

const MAX_SIZE = 8 * 1024 * 1024;
const secrets = fs.readFileSync(0, 'utf8').split('\n').filter((s) => s !== '').map((s) => Buffer.from(s));

function check(file) {
  let data;
  try {
    data = fs.readFileSync(file);
  } catch {
    return;
  }
  secrets.forEach((secret, index) => {
    if (data.includes(secret)) process.stdout.write(`${index}\t${file}\n`);
  });
}

function walk(dir) {
  let entries;
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) walk(full);
    else if (entry.isFile()) {
      try {
        if (fs.lstatSync(full).size <= MAX_SIZE) check(full);
      } catch {
        // gone meanwhile
      }
    }
  }
}

for (const dir of process.argv.slice(2)) walk(dir);
for (const pid of fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
  check(`/proc/${pid}/cmdline`);
  check(`/proc/${pid}/environ`);
}
