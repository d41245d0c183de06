/**
 * Images for CRI tests without a registry: the shared busybox rootfs packed as OCI image
 * archives (test/helpers/oci-archive.ts) and imported into the CRI plugin's containerd
 * namespace. One is the pod sandbox ("pause") image, whose process only waits to be killed;
 * the other is a plain busybox image for the pods' containers.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { packOciArchive } from '../oci-archive.js';
import { busyboxRootfs } from '../rootfs-cache.js';
import type { CriContainerd } from './containerd-cri.js';

/** The sandbox image: busybox whose entrypoint sleeps until the pod is stopped (SIGKILL). */
export const PAUSE_IMAGE = 'proxrun.test/pause:1';
/** The containers' image: busybox with a PATH and `sh` as its command. */
export const BUSYBOX_IMAGE = 'proxrun.test/busybox:1';

const PATH_ENV = 'PATH=/usr/sbin:/usr/bin:/sbin:/bin';

/** Packs both images and imports them into `containerd`; waits until CRI lists them. */
export async function importTestImages(containerd: CriContainerd): Promise<void> {
  const rootfs = await busyboxRootfs();
  const work = await mkdtemp(path.join(os.tmpdir(), 'proxrun-cri-images-'));
  try {
    const pause = path.join(work, 'pause.tar');
    const busybox = path.join(work, 'busybox.tar');
    await packOciArchive(pause, {
      layers: [{ dir: rootfs }],
      config: { Entrypoint: ['/bin/sleep', '2147483647'], Env: [PATH_ENV] },
      refName: PAUSE_IMAGE,
    });
    await packOciArchive(busybox, {
      layers: [{ dir: rootfs }],
      config: { Cmd: ['sh'], Env: [PATH_ENV] },
      refName: BUSYBOX_IMAGE,
    });
    await containerd.importImage(pause, PAUSE_IMAGE);
    await containerd.importImage(busybox, BUSYBOX_IMAGE);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
