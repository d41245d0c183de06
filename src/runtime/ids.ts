import { errInvalidArgument } from './errors.js';

// runc's rule (libcontainer validateID): letters, digits, underscore, plus, minus, dot.
const ID_PATTERN = /^[A-Za-z0-9_+.-]+$/;

/** Throws a one-line error unless `id` is a valid container id. Runs before anything touches disk. */
export function assertValidId(id: string | undefined): string {
  if (id === undefined || id === '') throw errInvalidArgument('container id cannot be empty');
  if (id === '.' || id === '..' || !ID_PATTERN.test(id)) {
    throw errInvalidArgument(`invalid container id ${JSON.stringify(id)}: only letters, digits, "_", "+", "-" and "." are allowed, and not "." or ".."`);
  }
  if (id.length > 1024) throw errInvalidArgument('invalid container id: longer than 1024 characters');
  return id;
}
