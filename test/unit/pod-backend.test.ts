/**
 * The pod rule: a CRI container runs on its sandbox's backend, proxmox-vm holds no pod, and
 * configs that do not come from the CRI plugin are left alone. (Through containerd's CRI plugin:
 * test/e2e/cri-passthrough.test.ts.)
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CRI_CONTAINER_TYPE, CRI_SANDBOX_ID, podBackendProblem } from '../../src/runtime/pod.js';
import type { BackendName } from '../../src/runtime/state-store.js';

const ANNOTATION = 'io.proxrun.backend';
const SANDBOX = 'a'.repeat(64);
const sandboxes: Record<string, BackendName> = { [SANDBOX]: 'runc' };
const lookup = (id: string): BackendName | undefined => sandboxes[id];

describe('podBackendProblem', () => {
  it('leaves a config without CRI annotations alone, on any backend', () => {
    assert.equal(podBackendProblem({}, 'proxmox-vm', ANNOTATION, lookup), undefined);
    assert.equal(podBackendProblem(undefined, 'crun', ANNOTATION, lookup), undefined);
  });

  it('lets a container run on its sandbox\'s backend', () => {
    const annotations = { [CRI_CONTAINER_TYPE]: 'container', [CRI_SANDBOX_ID]: SANDBOX };
    assert.equal(podBackendProblem(annotations, 'runc', ANNOTATION, lookup), undefined);
  });

  it('refuses a container on another backend than its sandbox, naming both and the annotation', () => {
    const annotations = { [CRI_CONTAINER_TYPE]: 'container', [CRI_SANDBOX_ID]: SANDBOX };
    const problem = podBackendProblem(annotations, 'crun', ANNOTATION, lookup);
    assert.equal(problem?.path, '/annotations/io.proxrun.backend');
    assert.match(problem?.message ?? '', new RegExp(`^crun, but this container's pod \\(sandbox ${SANDBOX}\\) runs on runc: `));
  });

  it('has nothing to compare with when the sandbox has no record here', () => {
    const annotations = { [CRI_CONTAINER_TYPE]: 'container', [CRI_SANDBOX_ID]: 'b'.repeat(64) };
    assert.equal(podBackendProblem(annotations, 'crun', ANNOTATION, lookup), undefined);
  });

  it('refuses proxmox-vm for a pod sandbox and for a pod container', () => {
    for (const type of ['sandbox', 'container']) {
      const problem = podBackendProblem({ [CRI_CONTAINER_TYPE]: type, [CRI_SANDBOX_ID]: SANDBOX }, 'proxmox-vm', ANNOTATION, lookup);
      assert.equal(problem?.path, '/annotations/io.proxrun.backend');
      assert.match(problem?.message ?? '', /^proxmox-vm cannot run a Kubernetes pod: /);
    }
  });
});
