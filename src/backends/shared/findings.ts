/**
 * What a backend's translation of a spec found it cannot honour, shared by the proxmox-lxc and
 * proxmox-vm translations. Strict mode keeps each as a Problem (the JSON path and why); lenient
 * mode keeps each as a warning line instead. Pure.
 */
import type { Problem } from '../../oci/problems.js';

export class Findings {
  readonly problems: Problem[] = [];
  readonly warnings: string[] = [];

  constructor(private readonly lenient: boolean) {}

  /** A field the backend cannot honour: a problem, or a warning when lenient. */
  refuse(path: string, message: string): void {
    if (this.lenient) this.warnings.push(`${path}: ${message} (accepted because lenient is set)`);
    else this.problems.push({ path, message });
  }
}
