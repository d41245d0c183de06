/**
 * The proxmox-lxc backend's part of `features`: seccomp is enabled, with the actions, operators,
 * architectures and flags the in-CT launcher applies (NOTIFY and WAIT_KILLABLE_RECV are refused
 * by translation, so they are not listed), every capability name, and JSON the features schema
 * accepts. Fixed at build time: no host is asked.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createProxmoxLxcBackend } from '../../src/backends/proxmox-lxc/backend.js';
import { validateFeaturesSchema } from '../../src/oci/schema-validate.js';
import type { BackendContext } from '../../src/runtime/backend.js';

describe('proxmox-lxc features', () => {
  it('reports seccomp with what the launcher supports, valid against the features schema', async () => {
    const features = await createProxmoxLxcBackend().features({} as BackendContext);
    assert.ok(features);
    const linux = features['linux'] as { seccomp: Record<string, unknown>; capabilities: string[] };
    assert.deepEqual(linux.seccomp, {
      enabled: true,
      actions: ['SCMP_ACT_ALLOW', 'SCMP_ACT_ERRNO', 'SCMP_ACT_KILL', 'SCMP_ACT_KILL_PROCESS', 'SCMP_ACT_KILL_THREAD', 'SCMP_ACT_LOG', 'SCMP_ACT_TRACE', 'SCMP_ACT_TRAP'],
      operators: ['SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT', 'SCMP_CMP_LE', 'SCMP_CMP_LT', 'SCMP_CMP_MASKED_EQ', 'SCMP_CMP_NE'],
      archs: ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM', 'SCMP_ARCH_MIPS', 'SCMP_ARCH_MIPS64', 'SCMP_ARCH_MIPS64N32', 'SCMP_ARCH_MIPSEL', 'SCMP_ARCH_MIPSEL64', 'SCMP_ARCH_MIPSEL64N32',
        'SCMP_ARCH_PPC', 'SCMP_ARCH_PPC64', 'SCMP_ARCH_PPC64LE', 'SCMP_ARCH_S390', 'SCMP_ARCH_S390X', 'SCMP_ARCH_X32', 'SCMP_ARCH_X86', 'SCMP_ARCH_X86_64'],
      knownFlags: ['SECCOMP_FILTER_FLAG_TSYNC', 'SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW', 'SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV'],
      supportedFlags: ['SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW', 'SECCOMP_FILTER_FLAG_TSYNC'],
    });
    assert.equal(linux.capabilities.length, 41);
    assert.ok(linux.capabilities.includes('CAP_CHECKPOINT_RESTORE'));
    assert.deepEqual(validateFeaturesSchema(features), []);
  });
});
