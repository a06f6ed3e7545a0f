/**
 * The contract for sealing confidential bodies at rest (buffer, spool, local object store). The
 * implementation (AES-256-GCM, a fresh nonce per record, the key id carried in the sealed bytes so a
 * rotated key ring still opens old records) lives beside this file; outputs only see this interface
 * through `PluginEnvironment.sealer`.
 */
export interface Sealer {
  /** the id of the key new seals use */
  readonly keyId: string;
  /** Encrypt and authenticate; the result is self-describing (format version, key id, nonce, tag). */
  seal(plain: Buffer): Buffer;
  /** Check and decrypt; throws a coded error naming the key id when the key is unknown or the bytes were altered. */
  open(sealed: Buffer): Buffer;
}
