/**
 * OCI spec -> Proxmox LXC container plan. Pure: no I/O, no clock, no environment.
 * A field the backend cannot honour is a Problem naming its JSON path (fail closed), or,
 * with `lenient`, a warning line in the plan. Every problem is collected, not just the first.
 * Unknown properties and annotations outside `io.proxrun.pve.` are ignored (spec: extensibility).
 */
import { joinPointer } from '../../../oci/problems.js';
import { parseSignal, signalName } from '../../../oci/signals.js';
import type { Spec } from '../../../oci/spec.js';
import type { PveParams } from '../../../proxmox/client.js';
import type { CtPlan, TranslateOptions, TranslateResult } from './ct-plan.js';
import { hostnameFromId, toDnsName } from './hostname.js';
import { describeContainer, translateAnnotations } from './translate-annotations.js';
import { Findings } from '../../shared/findings.js';
import { translateLinux } from './translate-linux.js';
import { translateMounts } from './translate-mounts.js';
import { translateProcess } from './translate-process.js';
import { translateResources } from './translate-resources.js';
import { translateSeccomp } from './translate-seccomp.js';

export const STOP_SIGNAL_ANNOTATION = 'org.opencontainers.image.stopSignal';
const DEFAULT_STOP_SIGNAL = 'SIGTERM';

function translateHostname(spec: Spec, options: TranslateOptions, findings: Findings): string {
  if (spec.hostname === undefined || spec.hostname === '') return hostnameFromId(options.containerId);
  const name = toDnsName(spec.hostname);
  if (name !== undefined) return name;
  findings.refuse('/hostname', 'has no character a DNS name may contain (a-z, 0-9, "-")');
  return hostnameFromId(options.containerId);
}

function translateStopSignal(annotations: Readonly<Record<string, string | undefined>>, findings: Findings): string {
  const raw = annotations[STOP_SIGNAL_ANNOTATION];
  if (raw === undefined) return DEFAULT_STOP_SIGNAL;
  try {
    const number = parseSignal(raw);
    return signalName(number) ?? String(number);
  } catch (error) {
    findings.refuse(joinPointer('/annotations', STOP_SIGNAL_ANNOTATION), (error as Error).message);
    return DEFAULT_STOP_SIGNAL;
  }
}

export function translateSpec(spec: Spec, options: TranslateOptions): TranslateResult {
  const findings = new Findings(options.lenient);
  const annotations = spec.annotations ?? {};

  const settings = translateAnnotations(annotations, findings);
  const processPart = translateProcess(spec.process, options.hostSecurity ?? { apparmor: false, selinux: false }, findings);
  const seccomp = translateSeccomp(spec.linux?.seccomp, findings);
  if (spec.root === undefined) findings.refuse('/root', 'is required');
  if (spec.domainname !== undefined && spec.domainname !== '') findings.refuse('/domainname', 'a domain name is not supported by the proxmox-lxc backend');
  const hostname = translateHostname(spec, options, findings);
  const linuxPart = translateLinux(spec.linux, settings.unprivileged, options.lenient, findings);
  const resources = translateResources(spec.linux?.resources, findings);
  const mountEntries = translateMounts(spec.mounts ?? [], { ...(options.sourceKinds ? { sourceKinds: options.sourceKinds } : {}) }, findings);
  const stopSignal = translateStopSignal(annotations, findings);
  const description = describeContainer(options.containerId, settings.description, findings);

  if (findings.problems.length > 0) return { problems: findings.problems };

  // cmode=console: a custom init breaks the tty console mode (Proxmox sets the same for OCI images).
  const createParams: PveParams = {
    ostype: 'unmanaged',
    unprivileged: settings.unprivileged ? 1 : 0,
    cmode: 'console',
    hostname,
    description,
    ...resources.params,
    ...settings.params,
  };
  const plan: CtPlan = {
    createParams,
    rawLxc: [
      ...processPart.rawLxc,
      ...resources.rawLxc,
      ...linuxPart.rawLxc,
      ...mountEntries,
      ['lxc.signal.halt', stopSignal],
    ],
    ...(settings.node !== undefined ? { node: settings.node } : {}),
    storage: settings.storage ?? options.storage,
    rootfsSizeGiB: 0,
    readonlyRoot: spec.root?.readonly === true,
    process: processPart.process,
    launch: seccomp === undefined ? processPart.launch : { ...processPart.launch, seccomp },
    ctCapabilities: processPart.ctCapabilities,
    rlimits: processPart.rlimits,
    ...(seccomp !== undefined && spec.linux?.seccomp !== undefined ? { seccomp: spec.linux.seccomp } : {}),
    stopSignal,
    ...(processPart.oomScoreAdj !== undefined ? { oomScoreAdj: processPart.oomScoreAdj } : {}),
    warnings: findings.warnings,
  };
  return { plan, problems: [] };
}
