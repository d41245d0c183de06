import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create } from '../../src/cli/create.js';
import { exec } from '../../src/cli/exec.js';
import { kill } from '../../src/cli/kill.js';
import { parseCommandArgs, parseGlobals, DEFAULT_ROOT } from '../../src/cli/parse.js';
import { ps } from '../../src/cli/ps.js';
import { RuntimeError } from '../../src/runtime/errors.js';

describe('global flags', () => {
  it('takes the flags containerd sends before the command', () => {
    const p = parseGlobals(['--root', '/run/containerd/runc/default', '--log', '/b/log.json', '--log-format', 'json', '--systemd-cgroup', 'create', '--bundle', '/b', 'c1']);
    assert.equal(p.globals.root, '/run/containerd/runc/default');
    assert.equal(p.globals.log, '/b/log.json');
    assert.equal(p.globals.logFormat, 'json');
    assert.equal(p.globals.systemdCgroup, true);
    assert.equal(p.command, 'create');
    assert.deepEqual(p.commandArgs, ['--bundle', '/b', 'c1']);
  });

  it('accepts --flag=value, podman\'s --log-format=json, --rootless=VALUE, --criu and --debug', () => {
    const p = parseGlobals(['--log-format=json', '--log=/x/oci-log', '--rootless=false', '--criu', 'criu', '--debug', 'state', 'x']);
    assert.equal(p.globals.logFormat, 'json');
    assert.equal(p.globals.log, '/x/oci-log');
    assert.equal(p.globals.rootless, 'false');
    assert.equal(p.globals.debug, true);
    assert.equal(p.command, 'state');
  });

  it('defaults the root and makes a relative root absolute', () => {
    assert.equal(parseGlobals(['state', 'x']).globals.root, DEFAULT_ROOT);
    assert.equal(parseGlobals(['--root', 'rel', 'state', 'x']).globals.root, `${process.cwd()}/rel`);
  });

  it('refuses / as root, an unknown global flag, a bad log format and a missing value', () => {
    assert.throws(() => parseGlobals(['--root', '/', 'state', 'x']), /--root cannot be \//);
    assert.throws(() => parseGlobals(['--bogus', 'state']), /unknown global flag: --bogus/);
    assert.throws(() => parseGlobals(['--log-format', 'xml', 'state']), /invalid log-format: xml/);
    assert.throws(() => parseGlobals(['--root']), /flag needs an argument: --root/);
  });

  it('knows -v and --version, -h and --help', () => {
    assert.equal(parseGlobals(['-v']).version, true);
    assert.equal(parseGlobals(['--version']).version, true);
    assert.equal(parseGlobals(['-h']).help, true);
  });
});

describe('command flags', () => {
  it('takes flags before or after the container id, with = or a space, and single-dash long flags', () => {
    const a = parseCommandArgs(create, ['--bundle', '/b', '--pid-file=/b/init.pid', '-no-pivot', 'c1']);
    assert.deepEqual(a.positionals, ['c1']);
    assert.equal(a.flags.bundle, '/b');
    assert.equal(a.flags['pid-file'], '/b/init.pid');
    assert.equal(a.flags['no-pivot'], true);
    const b = parseCommandArgs(create, ['c1', '-b', '/b', '--no-new-keyring', '--console-socket', '/tmp/s.sock']);
    assert.deepEqual(b.positionals, ['c1']);
    assert.equal(b.flags.bundle, '/b');
    assert.equal(b.flags['no-new-keyring'], true);
    assert.equal(b.flags['console-socket'], '/tmp/s.sock');
  });

  it('refuses an unknown flag by name', () => {
    assert.throws(() => parseCommandArgs(create, ['--bundel', '/b', 'c1']), (err: unknown) => err instanceof RuntimeError && err.message === 'unknown flag for create: --bundel');
  });

  it('refuses a string flag given without its value', () => {
    assert.throws(() => parseCommandArgs(create, ['c1', '--bundle']), /flag needs an argument: --bundle/);
  });

  it('stops at the command after the exec id, so the command keeps its own flags', () => {
    const a = parseCommandArgs(exec, ['--env', 'A=1', '-e', 'B=2', '--cwd', '/tmp', 'c1', 'sh', '-c', 'echo $A --detach']);
    assert.deepEqual(a.positionals, ['c1']);
    assert.deepEqual(a.flags.env, ['A=1', 'B=2']);
    assert.equal(a.flags.cwd, '/tmp');
    assert.deepEqual(a.rest, ['sh', '-c', 'echo $A --detach']);
    assert.equal(a.flags.detach, undefined);
  });

  it('reads the exec shape containerd sends', () => {
    const a = parseCommandArgs(exec, ['--process', '/tmp/runc-process1', '--detach', '--pid-file', '/b/e1.pid', 'c2']);
    assert.equal(a.flags.process, '/tmp/runc-process1');
    assert.equal(a.flags.detach, true);
    assert.equal(a.flags['pid-file'], '/b/e1.pid');
    assert.deepEqual(a.positionals, ['c2']);
    assert.deepEqual(a.rest, []);
  });

  it('drops the -- before an exec command', () => {
    const a = parseCommandArgs(exec, ['c1', '--', 'ls', '-l']);
    assert.deepEqual(a.rest, ['ls', '-l']);
  });

  it('passes ps options after the id to ps', () => {
    const a = parseCommandArgs(ps, ['--format', 'json', 'c1', '-ef']);
    assert.equal(a.flags.format, 'json');
    assert.deepEqual(a.rest, ['-ef']);
  });

  it('takes kill --all and -a, with the signal as second positional', () => {
    const a = parseCommandArgs(kill, ['--all', 'c1', '9']);
    assert.equal(a.flags.all, true);
    assert.deepEqual(a.positionals, ['c1', '9']);
    assert.equal(parseCommandArgs(kill, ['-a', 'c1', 'KILL']).flags.all, true);
  });
});

describe('a lone dash as a value', () => {
  it('takes `--resources -` as stdin, as containerd sends it', async () => {
    const { update } = await import('../../src/cli/update.js');
    assert.equal(parseCommandArgs(update, ['--resources', '-', 'c1']).flags.resources, '-');
    assert.equal(parseCommandArgs(update, ['--resources=-', 'c1']).flags.resources, '-');
  });
});
