import { errUnsupported } from '../runtime/errors.js';
import type { CommandSpec } from './parse.js';

export const restore: CommandSpec = {
  name: 'restore',
  usage: 'restore <container-id>',
  summary: 'not supported by proxrun',
  async run() {
    throw errUnsupported('restore is not supported by proxrun (no backend can restore a checkpoint)');
  },
};
