/**
 * Writing a configuration applied over the API back to the file the gateway was started with, so
 * that a restart runs what the API applied.
 *
 * Constraints:
 * - Atomic: the text goes to a temporary file in the same folder, is fsynced, then renamed over the
 *   file; a crash leaves the old file or the new one, never a torn one. The file's mode is kept; its
 *   owner becomes the gateway's user (under systemd the file is the gateway's already, see
 *   systemd/install.sh).
 * - Whether it can be written is asked before an apply (`configFileWritable`), so the answer can say
 *   so; a file the gateway may not write (a read-only /etc) is not an error: the applied version
 *   runs and is in the history, and the answer tells the admin the file still holds the old one.
 */
import { accessSync, closeSync, constants, fchmodSync, fsyncSync, openSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';

/** the sticky bit of a folder's mode (S_ISVTX) */
const STICKY = 0o1000;

/** Why `file` cannot be replaced by the gateway, or undefined when it can. */
export function configFileWritable(file: string): string | undefined {
  try {
    accessSync(file, constants.W_OK);
    const dir = path.dirname(file);
    accessSync(dir, constants.W_OK | constants.X_OK);
    // in a sticky folder (systemd/install.sh: /etc/layergate is 1770) only the file's owner may replace it
    const uid = process.getuid?.();
    if ((statSync(dir).mode & STICKY) !== 0 && uid !== undefined && uid !== 0 && statSync(file).uid !== uid) {
      return `${file} cannot be replaced by the gateway (its folder is sticky and the file is not the gateway user's: chown it to that user)`;
    }
    return undefined;
  } catch (err) {
    return `${file} cannot be replaced by the gateway (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}: the file and its folder must be writable by its user)`;
  }
}

/** Replace `file` with `text` atomically (see the module header). */
export function writeConfigFile(file: string, text: string): void {
  const mode = statSync(file).mode & 0o777;
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  const fd = openSync(tmp, 'w', mode);
  try {
    // the open's mode is narrowed by the umask; the file keeps the mode it had
    fchmodSync(fd, mode);
    writeSync(fd, text);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    unlinkSync(tmp);
    throw err;
  }
  closeSync(fd);
  renameSync(tmp, file);
}
