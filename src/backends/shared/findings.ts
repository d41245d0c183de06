/**
 * What translation found it cannot honour. Strict mode keeps each as a Problem
 * (the JSON path and why); lenient mode keeps each as a warning line instead.
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

/** A value written into a Proxmox .conf line: a newline would start a new line, other control characters are refused too. */
export function hasControlCharacter(value: string): boolean {
  return /[\u0000-\u0008\u000a-\u001f\u007f]/.test(value);
}
