/**
 * The per-container monitor for backends whose container is not a child of
 * the caller (proxmox-lxc). See docs/monitor-design.md.
 */
export { renderInitScript, type InitScriptOptions } from './init-script.js';
export { renderMonitorScript } from './monitor-script.js';
export { prepareMonitorDir, DEFAULT_HOST_BUSYBOX, type PrepareOptions } from './prepare.js';
export { renderLaunchInput, launchEnvironment, encodeWord, LAUNCH_ENV_PREFIX, type LaunchSpec, type LaunchSeccomp, type LaunchSeccompRule, type LaunchCondition, type LaunchCapabilities, type LaunchRlimit } from './launch-input.js';
export { launcherBinary } from './launcher-binary.js';
export { lxcConfigEntries, formatLxcConfig, type LxcConfigEntry } from './lxc-config.js';
export { spawnMonitor, type SpawnMonitorOptions } from './spawn.js';
export { releaseStart, readExitStatus, type ReleaseOptions } from './control.js';
export { monitorPaths, type MonitorPaths, CONTAINER_MOUNT_POINT, IN_CONTAINER_DIR } from './layout.js';
export { hostIds, PROXMOX_DEFAULT_ID_MAP, type IdMap } from './id-map.js';
export { reachableBindEntries, reachableBy } from './reachable-binds.js';
export { quoteShellWord } from '../lib/shell-quote.js';
export type { MonitoredProcess, MonitoredUser } from './process.js';
