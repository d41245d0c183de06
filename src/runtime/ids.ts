/**
 * Container ids, checked before anything touches disk, with runc's rule (libcontainer validateID:
 * letters, digits, `_ + - .`, not `.` or `..`) and runc's message "invalid container ID format".
 * One limit runc does not state: an id becomes the file name `@locks/<id>.lock` in the state root,
 * and a file name has at most 255 bytes, so an id has at most 250 characters (a longer one would
 * fail later with ENAMETOOLONG, after the checks).
 */
import { errInvalidArgument } from './errors.js';

const ID_PATTERN = /^[A-Za-z0-9_+.-]+$/;
export const MAX_ID_LENGTH = 255 - '.lock'.length;

/** Throws a one-line error unless `id` is a valid container id. */
export function assertValidId(id: string | undefined): string {
  if (id === undefined || id === '') throw errInvalidArgument('container id cannot be empty');
  if (id === '.' || id === '..' || !ID_PATTERN.test(id)) {
    throw errInvalidArgument(`invalid container ID format: ${JSON.stringify(id)} (only letters, digits, "_", "+", "-" and "." are allowed, and not "." or "..")`);
  }
  if (id.length > MAX_ID_LENGTH) throw errInvalidArgument(`invalid container ID format: ${id.length} characters, at most ${MAX_ID_LENGTH} (the id names files in the state root)`);
  return id;
}
