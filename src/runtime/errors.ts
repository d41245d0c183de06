/**
 * Errors as named values. Each carries the exit code and a message that callers
 * (containerd, podman, runtime-tools) match on, so the wording of the stable
 * ones follows runc's libcontainer/error.go.
 */

export type ErrorCode =
  | 'NotExist'
  | 'Exist'
  | 'NotRunning'
  | 'NotPaused'
  | 'Running'
  | 'Stopped'
  | 'NotStopped'
  | 'InvalidId'
  | 'InvalidArgument'
  | 'InvalidConfig'
  | 'Unsupported'
  | 'Backend'
  | 'Internal';

export class RuntimeError extends Error {
  readonly code: ErrorCode;
  readonly exitCode: number;
  constructor(code: ErrorCode, message: string, exitCode = 1) {
    super(message);
    this.name = 'RuntimeError';
    this.code = code;
    this.exitCode = exitCode;
  }
}

/**
 * A child runtime (runc, crun) already reported its own failure on stderr and in
 * the --log file; proxrun only passes its exit status on, adding nothing.
 */
export class ChildExit extends Error {
  readonly exitCode: number;
  constructor(exitCode: number) {
    super(`child runtime exited with status ${exitCode}`);
    this.name = 'ChildExit';
    this.exitCode = exitCode;
  }
}

export const errNotExist = (): RuntimeError => new RuntimeError('NotExist', 'container does not exist');
export const errExist = (): RuntimeError => new RuntimeError('Exist', 'container with given ID already exists');
export const errNotRunning = (): RuntimeError => new RuntimeError('NotRunning', 'container not running');
export const errNotPaused = (): RuntimeError => new RuntimeError('NotPaused', 'container not paused');
export const errInvalidArgument = (message: string): RuntimeError => new RuntimeError('InvalidArgument', message);
export const errUnsupported = (message: string): RuntimeError => new RuntimeError('Unsupported', message);
