/**
 * A small CRI client (what kubelet and crictl speak to a container runtime), over gRPC on
 * containerd's unix socket. There is no crictl or kubelet on this machine, so the tests drive
 * containerd's CRI plugin with this: runtime.v1 messages from `runtime-v1.proto` (only the
 * fields the tests use), loaded at run time with @grpc/proto-loader.
 *
 * Field names stay in the proto's snake_case; enums come back as their names; int64 values
 * as JavaScript numbers (nanosecond timestamps lose their last digits, which no test reads).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

const PROTO_FILE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'runtime-v1.proto');

export type NamespaceMode = 'POD' | 'CONTAINER' | 'NODE' | 'TARGET';
export type ContainerState = 'CONTAINER_CREATED' | 'CONTAINER_RUNNING' | 'CONTAINER_EXITED' | 'CONTAINER_UNKNOWN';
export type PodSandboxState = 'SANDBOX_READY' | 'SANDBOX_NOTREADY';

export interface NamespaceOption {
  network?: NamespaceMode;
  pid?: NamespaceMode;
  ipc?: NamespaceMode;
}

export interface PodSandboxMetadata {
  name: string;
  uid: string;
  namespace: string;
  attempt?: number;
}

export interface PodSandboxConfig {
  metadata: PodSandboxMetadata;
  hostname?: string;
  log_directory?: string;
  dns_config?: { servers?: string[]; searches?: string[]; options?: string[] };
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  linux?: { cgroup_parent?: string; security_context?: { namespace_options?: NamespaceOption } };
}

export interface ContainerConfig {
  metadata: { name: string; attempt?: number };
  image: { image: string };
  command?: string[];
  args?: string[];
  working_dir?: string;
  envs?: { key: string; value: string }[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  log_path?: string;
  linux?: { security_context?: { namespace_options?: NamespaceOption } };
}

export interface PodSandboxStatusResponse {
  status: {
    id: string;
    metadata: PodSandboxMetadata;
    state: PodSandboxState;
    created_at: number;
    network: { ip: string } | null;
    annotations: Record<string, string>;
    runtime_handler: string;
  };
  /** With `verbose`: `info` holds containerd's JSON about the sandbox (pid, netns path, spec). */
  info: Record<string, string>;
}

export interface ContainerStatusResponse {
  status: {
    id: string;
    metadata: { name: string; attempt: number };
    state: ContainerState;
    created_at: number;
    started_at: number;
    finished_at: number;
    exit_code: number;
    reason: string;
    message: string;
    log_path: string;
  };
  info: Record<string, string>;
}

export interface ExecSyncResponse {
  stdout: Buffer;
  stderr: Buffer;
  exit_code: number;
}

export interface PodSandboxEntry {
  id: string;
  metadata: PodSandboxMetadata;
  state: PodSandboxState;
  runtime_handler: string;
}

export interface ContainerEntry {
  id: string;
  pod_sandbox_id: string;
  metadata: { name: string; attempt: number };
  state: ContainerState;
}

type Callback = (error: grpc.ServiceError | null, response: unknown) => void;
type UnaryMethod = (request: unknown, metadata: grpc.Metadata, options: grpc.CallOptions, callback: Callback) => void;

interface LoadedServices {
  RuntimeService: grpc.ServiceClientConstructor;
  ImageService: grpc.ServiceClientConstructor;
}

let loaded: LoadedServices | undefined;

function services(): LoadedServices {
  if (loaded) return loaded;
  const definition = protoLoader.loadSync(PROTO_FILE, {
    keepCase: true,
    longs: Number,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const root = grpc.loadPackageDefinition(definition) as unknown as { runtime: { v1: LoadedServices } };
  loaded = root.runtime.v1;
  return loaded;
}

/** A failed CRI call: the gRPC status code name and containerd's message. */
export class CriError extends Error {
  constructor(readonly method: string, readonly code: string, readonly details: string) {
    super(`CRI ${method} failed (${code}): ${details}`);
  }
}

/** One connection to a CRI endpoint; every call has a deadline. */
export class CriClient {
  private readonly runtime: grpc.Client;
  private readonly images: grpc.Client;

  /** `socket`: the absolute path of containerd's gRPC socket. */
  constructor(readonly socket: string, private readonly defaultTimeoutMs = 120_000) {
    const { RuntimeService, ImageService } = services();
    const target = `unix://${socket}`;
    this.runtime = new RuntimeService(target, grpc.credentials.createInsecure());
    this.images = new ImageService(target, grpc.credentials.createInsecure());
  }

  private call<T>(client: grpc.Client, method: string, request: unknown, timeoutMs = this.defaultTimeoutMs): Promise<T> {
    const fn = (client as unknown as Record<string, UnaryMethod>)[method];
    if (typeof fn !== 'function') throw new Error(`no CRI method ${method}`);
    return new Promise<T>((resolve, reject) => {
      fn.call(client, request, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (error, response) => {
        if (error) reject(new CriError(method, grpc.status[error.code] ?? String(error.code), error.details));
        else resolve(response as T);
      });
    });
  }

  version(): Promise<{ version: string; runtime_name: string; runtime_version: string; runtime_api_version: string }> {
    return this.call(this.runtime, 'Version', { version: 'v1' }, 10_000);
  }

  async runPodSandbox(config: PodSandboxConfig, runtimeHandler: string): Promise<string> {
    const response = await this.call<{ pod_sandbox_id: string }>(this.runtime, 'RunPodSandbox', { config, runtime_handler: runtimeHandler });
    return response.pod_sandbox_id;
  }

  async stopPodSandbox(podSandboxId: string): Promise<void> {
    await this.call(this.runtime, 'StopPodSandbox', { pod_sandbox_id: podSandboxId });
  }

  async removePodSandbox(podSandboxId: string): Promise<void> {
    await this.call(this.runtime, 'RemovePodSandbox', { pod_sandbox_id: podSandboxId });
  }

  podSandboxStatus(podSandboxId: string, verbose = false): Promise<PodSandboxStatusResponse> {
    return this.call(this.runtime, 'PodSandboxStatus', { pod_sandbox_id: podSandboxId, verbose });
  }

  async listPodSandboxes(): Promise<PodSandboxEntry[]> {
    const response = await this.call<{ items: PodSandboxEntry[] }>(this.runtime, 'ListPodSandbox', {});
    return response.items;
  }

  async createContainer(podSandboxId: string, config: ContainerConfig, sandboxConfig: PodSandboxConfig): Promise<string> {
    const response = await this.call<{ container_id: string }>(this.runtime, 'CreateContainer', {
      pod_sandbox_id: podSandboxId,
      config,
      sandbox_config: sandboxConfig,
    });
    return response.container_id;
  }

  async startContainer(containerId: string): Promise<void> {
    await this.call(this.runtime, 'StartContainer', { container_id: containerId });
  }

  /** `timeoutSeconds`: the grace period between the stop signal and SIGKILL. */
  async stopContainer(containerId: string, timeoutSeconds: number): Promise<void> {
    await this.call(this.runtime, 'StopContainer', { container_id: containerId, timeout: timeoutSeconds }, this.defaultTimeoutMs + timeoutSeconds * 1000);
  }

  async removeContainer(containerId: string): Promise<void> {
    await this.call(this.runtime, 'RemoveContainer', { container_id: containerId });
  }

  async listContainers(podSandboxId?: string): Promise<ContainerEntry[]> {
    const response = await this.call<{ containers: ContainerEntry[] }>(this.runtime, 'ListContainers', {
      filter: podSandboxId === undefined ? {} : { pod_sandbox_id: podSandboxId },
    });
    return response.containers;
  }

  containerStatus(containerId: string, verbose = false): Promise<ContainerStatusResponse> {
    return this.call(this.runtime, 'ContainerStatus', { container_id: containerId, verbose });
  }

  /** Runs `cmd` in the container and waits for it; `timeoutSeconds` 0 means no limit on containerd's side. */
  execSync(containerId: string, cmd: string[], timeoutSeconds = 60): Promise<ExecSyncResponse> {
    return this.call(this.runtime, 'ExecSync', { container_id: containerId, cmd, timeout: timeoutSeconds }, (timeoutSeconds + 30) * 1000);
  }

  /** The image's id and tags, or null when containerd's CRI plugin does not know it. */
  async imageStatus(image: string): Promise<{ id: string; repo_tags: string[] } | null> {
    const response = await this.call<{ image: { id: string; repo_tags: string[] } | null }>(this.images, 'ImageStatus', { image: { image } });
    return response.image;
  }

  close(): void {
    this.runtime.close();
    this.images.close();
  }
}
