/**
 * The host end of a guest's three virtio-console ports: relays stdout and
 * stderr to the given streams (each to its own), sends `start` and signals,
 * and settles with the payload's exit status once every byte the guest
 * counted has arrived, after which it lets the guest power off (`ack`).
 */
import { connect, type Socket } from 'node:net';
import type { Writable } from 'node:stream';
import { ackLine, parseGuestLine, signalLine, startLine, type GuestMessage } from './channel-protocol.js';
import { portSocketPaths } from './qemu-args.js';

export interface GuestChannelOptions {
  /** The run dir given to guestQemuArgs. */
  readonly runDir: string;
  readonly stdout: Writable;
  readonly stderr: Writable;
  /** How long to keep trying while QEMU has not created the sockets yet (default 30 s). */
  readonly connectTimeoutMs?: number;
}

export interface GuestExit {
  /** The payload's exit status, 128+N when signal N ended it. */
  readonly status: number;
  /** `error` lines the guest sent (why it could not run the payload, when status is 125). */
  readonly guestErrors: readonly string[];
}

const CONNECT_RETRY_MS = 20;

function connectOnce(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    socket.once('connect', () => { socket.removeListener('error', reject); resolve(socket); });
    socket.once('error', reject);
  });
}

/** Connects to a chardev socket, retrying while it does not exist or refuses, until the deadline. */
async function connectWithDeadline(path: string, deadline: number): Promise<Socket> {
  for (;;) {
    try {
      return await connectOnce(path);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if ((code !== 'ENOENT' && code !== 'ECONNREFUSED') || Date.now() >= deadline) {
        throw new Error(`cannot connect to guest port ${path}: ${(error as Error).message}`);
      }
      await new Promise((resolve) => setTimeout(resolve, CONNECT_RETRY_MS));
    }
  }
}

/** One output port: copies into its stream, honouring the stream's back-pressure, and counts bytes. */
class OutputRelay {
  bytes = 0;
  ended = false;
  constructor(private readonly socket: Socket, private readonly target: Writable, onProgress: () => void) {
    socket.on('data', (chunk: Buffer) => {
      this.bytes += chunk.length;
      if (!target.write(chunk)) {
        socket.pause();
        target.once('drain', () => socket.resume());
      }
      onProgress();
    });
    socket.on('close', () => { this.ended = true; onProgress(); });
    socket.on('error', () => { /* close follows */ });
  }
  destroy(): void {
    this.socket.destroy();
  }
}

export class GuestChannel {
  private readonly guestErrors: string[] = [];
  private pendingExit: Extract<GuestMessage, { kind: 'exit' }> | undefined;
  private controlText = '';
  private controlClosed = false;
  private readyResolve: (() => void) | undefined;
  private readyReject: ((error: Error) => void) | undefined;
  private exitResolve!: (exit: GuestExit) => void;
  private exitReject!: (error: Error) => void;
  private settled = false;
  private isReady = false;
  /** Settles when the payload's status is known and all its output relayed; rejects when the guest vanished first. */
  readonly exited: Promise<GuestExit>;
  private readonly ready: Promise<void>;

  private constructor(
    private readonly control: Socket,
    private readonly stdoutRelay: OutputRelay,
    private readonly stderrRelay: OutputRelay,
  ) {
    this.exited = new Promise((resolve, reject) => { this.exitResolve = resolve; this.exitReject = reject; });
    this.exited.catch(() => { /* the caller decides whether to look */ });
    this.ready = new Promise((resolve, reject) => { this.readyResolve = resolve; this.readyReject = reject; });
    this.ready.catch(() => { /* idem */ });
    control.setEncoding('utf8');
    control.on('data', (text: string) => this.onControlText(text));
    control.on('close', () => { this.controlClosed = true; this.progress(); });
    control.on('error', () => { /* close follows */ });
  }

  /** Connects to the three ports of the VM whose sockets are in `runDir`. */
  static async connect(options: GuestChannelOptions): Promise<GuestChannel> {
    const paths = portSocketPaths(options.runDir);
    const deadline = Date.now() + (options.connectTimeoutMs ?? 30_000);
    const opened: Socket[] = [];
    try {
      // Output ports first: by the time the guest can be told to start, they are read.
      const stdoutSocket = await connectWithDeadline(paths.stdout, deadline);
      opened.push(stdoutSocket);
      const stderrSocket = await connectWithDeadline(paths.stderr, deadline);
      opened.push(stderrSocket);
      const controlSocket = await connectWithDeadline(paths.control, deadline);
      opened.push(controlSocket);
      let channel: GuestChannel | undefined;
      const progress = (): void => channel?.progress();
      channel = new GuestChannel(
        controlSocket,
        new OutputRelay(stdoutSocket, options.stdout, progress),
        new OutputRelay(stderrSocket, options.stderr, progress),
      );
      return channel;
    } catch (error) {
      for (const socket of opened) socket.destroy();
      throw error;
    }
  }

  /** Resolves when the guest has booted and waits at the gate (at once if it already did). */
  waitReady(): Promise<void> {
    return this.ready;
  }

  /** Lets the payload run. */
  start(): void {
    this.send(startLine());
  }

  /** Sends signal `signal` (a number) to the payload; before start, ends the guest with 128+N. */
  signal(signal: number): void {
    this.send(signalLine(signal));
  }

  /** Drops the connections (the guest blocks, or ends, on its side). */
  close(): void {
    this.control.destroy();
    this.stdoutRelay.destroy();
    this.stderrRelay.destroy();
  }

  private send(line: string): void {
    if (this.controlClosed) throw new Error('the guest control port is closed');
    this.control.write(line);
  }

  private onControlText(text: string): void {
    this.controlText += text;
    let newline = this.controlText.indexOf('\n');
    while (newline >= 0) {
      const line = this.controlText.slice(0, newline);
      this.controlText = this.controlText.slice(newline + 1);
      this.onMessage(parseGuestLine(line));
      newline = this.controlText.indexOf('\n');
    }
  }

  private onMessage(message: GuestMessage | undefined): void {
    if (message === undefined) return;
    if (message.kind === 'ready') {
      this.isReady = true;
      this.readyResolve?.();
    } else if (message.kind === 'error') {
      this.guestErrors.push(message.message);
    } else if (message.kind === 'exit') {
      this.pendingExit = message;
    }
    this.progress();
  }

  /** Settles `exited` once the exit line and all counted output are in, or the guest is gone. */
  private progress(): void {
    if (this.settled) return;
    const exit = this.pendingExit;
    const outputComplete = exit !== undefined
      && (this.stdoutRelay.bytes >= exit.stdoutBytes || this.stdoutRelay.ended)
      && (this.stderrRelay.bytes >= exit.stderrBytes || this.stderrRelay.ended);
    if (exit !== undefined && outputComplete) {
      this.settled = true;
      if (!this.controlClosed) this.control.write(ackLine());
      this.exitResolve({ status: exit.status, guestErrors: [...this.guestErrors] });
      return;
    }
    if (this.controlClosed && exit === undefined) {
      this.settled = true;
      const why = this.guestErrors.length > 0 ? `: ${this.guestErrors.join('; ')}` : '';
      const error = new Error(`the guest went away without reporting an exit status${why}`);
      if (!this.isReady) this.readyReject?.(error);
      this.exitReject(error);
    }
  }
}
