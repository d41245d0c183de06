import type { LaunchSpec, MonitoredProcess } from '../../../monitor/index.js';
import type { Problem } from '../../../oci/problems.js';
import type { LinuxSeccomp, Rlimit } from '../../../oci/spec.js';
import type { PveParams } from '../../../proxmox/client.js';
import type { HostSecurity } from './translate-process.js';

/**
 * What an OCI spec becomes on Proxmox: the output of translate.ts (a pure function),
 * the input of the proxmox-lxc backend. Rootfs delivery (template upload or a
 * node-local directory volume) adds `ostemplate`/`rootfs` itself.
 */
export interface CtPlan {
  /** Parameters for POST /nodes/{node}/lxc (`pct create`), without vmid, ostemplate and rootfs. */
  createParams: PveParams;
  /** Raw `lxc.*` entries written into `<pveDir>/nodes/<node>/lxc/<vmid>.conf`, in order. */
  rawLxc: Array<[string, string]>;
  /** `io.proxrun.pve.node`, when the container must go to a given node. */
  node?: string;
  /** Storage for the rootfs (`io.proxrun.pve.storage`, else the configured one). */
  storage?: string;
  /** Rootfs size in GiB for archive delivery (0 = a plain directory). */
  rootfsSizeGiB: number;
  /** Whether the rootfs is mounted read-only (root.readonly). */
  readonlyRoot: boolean;
  /** The container's process (for the rootfs archive's image config). */
  process: MonitoredProcess;
  /** What the in-CT launcher applies before it execs the app (user, capabilities, seccomp, env, ...). */
  launch: LaunchSpec;
  /** The CT's bounding set (`lxc.cap.keep`, capability names): an exec's capabilities must fit in it. */
  ctCapabilities: string[];
  /** process.rlimits: an exec without rlimits of its own gets these, as in runc. */
  rlimits: Rlimit[];
  /** linux.seccomp as given: runc applies the container's profile to every exec too. */
  seccomp?: LinuxSeccomp;
  /** Signal a shutdown-style stop sends (from `org.opencontainers.image.stopSignal`, default SIGTERM). */
  stopSignal: string;
  /**
   * `process.oomScoreAdj`, when set. Proxmox has no option for it: the backend writes it to
   * `/proc/<init pid>/oom_score_adj` from the host before releasing the start, so the app inherits it.
   */
  oomScoreAdj?: number;
  /** Fields accepted only because the config says `lenient: true`, one line each, for the log. */
  warnings: string[];
}

export interface TranslateResult {
  /** Present only when there are no problems. */
  plan?: CtPlan;
  /** Fields the backend cannot honour (fail closed), each naming the JSON path. */
  problems: Problem[];
}

export interface TranslateOptions {
  /** The container id (a fallback hostname source). */
  containerId: string;
  /** Turns refusals into warnings. */
  lenient: boolean;
  /** Default rootfs storage from the proxrun config. */
  storage: string;
  /**
   * What each bind-mount source is (`file` or `dir`), keyed by the source path, as the backend
   * found by stat. A source not listed is guessed from its destination (`/etc/hosts`,
   * `/etc/resolv.conf`, `/etc/hostname` and `/run/.containerenv` are files, the rest folders).
   */
  sourceKinds?: Readonly<Record<string, 'file' | 'dir'>>;
  /**
   * Which Linux security modules run on the node (read by the backend): an AppArmor profile or an
   * SELinux label is refused without its module, as runc fails without it. Default: neither.
   */
  hostSecurity?: HostSecurity;
}
