import { errUnsupported } from '../runtime/errors.js';
import type { CommandSpec } from './parse.js';

/**
 * No backend of proxrun can checkpoint. podman decides support by running
 * `checkpoint --help` and looking at the exit status, so even --help fails here.
 */
export const checkpoint: CommandSpec = {
  name: 'checkpoint',
  usage: 'checkpoint <container-id>',
  summary: 'not supported by proxrun',
  async run() {
    throw errUnsupported('checkpoint is not supported by proxrun (no backend can checkpoint a container)');
  },
};
