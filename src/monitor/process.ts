/**
 * The part of an OCI `process` the monitor needs. Structural, so an OCI
 * `Process` from the spec types can be passed as it is.
 */
export interface MonitoredUser {
  readonly uid: number;
  readonly gid: number;
  readonly additionalGids?: readonly number[];
}

export interface MonitoredProcess {
  readonly args?: readonly string[];
  readonly env?: readonly string[];
  readonly cwd: string;
  readonly user?: MonitoredUser;
  readonly terminal?: boolean;
}
