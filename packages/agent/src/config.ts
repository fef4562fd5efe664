/**
 * The agent's state file: identity (ids, the certificate the cloud issued), the cloud's signing
 * key, the agent's own private keys, and the directory configuration. It holds private keys, so
 * it is written 0600 and atomically (temp file, fsync, rename), and a file readable by group or
 * others is refused rather than used.
 */
import { randomBytes, type KeyObject } from 'node:crypto';
import { constants as fsc } from 'node:fs';
import { open, rename, stat, unlink, readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { z } from 'zod';
import {
  AgentCertificateSchema,
  PrivateJwkSchema,
  PublicKeySchema,
  privateKeyObject,
  publicKeyObject,
  verifyAgentCertificate,
} from '@writeback/protocol';
import { AgentError } from './errors.js';

/** An agent or tenant id as the cloud issues it (state file and registration answer alike). */
export const IdSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9._:-]+$/);
const KeyPairSchema = z.object({ publicKey: PublicKeySchema, privateJwk: PrivateJwkSchema });

/**
 * The directory configuration is opaque here (the directory factory validates it); only its
 * `kind` is read, to announce it to the cloud and the relay.
 */
export const DirectoryConfigSchema = z.looseObject({ kind: z.string().min(1).max(32) });
export type DirectoryConfig = z.infer<typeof DirectoryConfigSchema>;

export const AgentStateSchema = z.object({
  version: z.literal(1),
  cloudUrl: z.url(),
  relayUrl: z.url(),
  /** Every relay the cloud handed out (the links spread over them); absent in older states: `relayUrl` alone. */
  relayUrls: z.array(z.url()).min(1).max(16).optional(),
  agentId: IdSchema,
  tenantId: IdSchema,
  name: z.string().min(1).max(128),
  certificate: AgentCertificateSchema,
  /** base64url Ed25519 public key of the cloud: verifies requests and the certificate. */
  cloudSigningKey: PublicKeySchema,
  signing: KeyPairSchema,
  encryption: KeyPairSchema,
  directory: DirectoryConfigSchema,
});
export type AgentState = z.infer<typeof AgentStateSchema>;

/** The key objects an agent works with, derived from its state. */
export interface AgentKeys {
  signingKey: KeyObject;
  decryptionKey: KeyObject;
  encryptionPublicKey: string;
  cloudVerifyKey: KeyObject;
}

/**
 * Check that the parts of a state belong together: the private keys match the public halves, the
 * certificate names this agent and these keys, and the cloud signed it. Throws `state_invalid`.
 */
export function checkStateConsistency(state: AgentState): AgentKeys {
  const c = state.certificate;
  const problems: string[] = [];
  if (state.signing.privateJwk.crv !== 'Ed25519' || state.signing.privateJwk.x !== state.signing.publicKey)
    problems.push('signing key pair');
  if (state.encryption.privateJwk.crv !== 'X25519' || state.encryption.privateJwk.x !== state.encryption.publicKey)
    problems.push('encryption key pair');
  if (c.agentId !== state.agentId || c.tenantId !== state.tenantId) problems.push('certificate identity');
  if (c.signingKey !== state.signing.publicKey || c.encryptionKey !== state.encryption.publicKey)
    problems.push('certificate keys');
  if (problems.length) throw new AgentError('state_invalid', `state file parts do not match: ${problems.join(', ')}`);
  let keys: AgentKeys;
  try {
    keys = {
      signingKey: privateKeyObject(state.signing.privateJwk),
      decryptionKey: privateKeyObject(state.encryption.privateJwk),
      encryptionPublicKey: state.encryption.publicKey,
      cloudVerifyKey: publicKeyObject('Ed25519', state.cloudSigningKey),
    };
  } catch (cause) {
    throw new AgentError('state_invalid', 'state file holds an unusable key', { cause });
  }
  if (!verifyAgentCertificate(c, keys.cloudVerifyKey))
    throw new AgentError('state_invalid', 'certificate is not signed by the cloud key in the state file');
  return keys;
}

/** Load and check a state file. Refuses a file with a mode wider than 0600. */
export async function loadState(path: string): Promise<AgentState> {
  let mode: number;
  try {
    mode = (await stat(path)).mode;
  } catch (cause) {
    if (cause instanceof Error && 'code' in cause && cause.code === 'ENOENT')
      throw new AgentError('state_not_found', `no state file at ${path}`, { cause });
    throw new AgentError('state_invalid', `state file ${path} cannot be read`, { cause });
  }
  // Private keys: a file group/others can read is treated as compromised-in-waiting, not used.
  if ((mode & 0o077) !== 0) {
    throw new AgentError(
      'state_insecure_permissions',
      `state file ${path} has mode ${(mode & 0o777).toString(8)}; it must be 600 (chmod 600 ${path})`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(await readFile(path, 'utf8'));
  } catch (cause) {
    throw new AgentError('state_invalid', `state file ${path} is not JSON`, { cause });
  }
  const parsed = AgentStateSchema.safeParse(json);
  if (!parsed.success) {
    const where = parsed.error.issues[0]?.path.join('.') ?? '';
    throw new AgentError('state_invalid', `state file ${path} is invalid at "${where}"`);
  }
  checkStateConsistency(parsed.data);
  return parsed.data;
}

/**
 * Write a file 0600 atomically: a reader sees the old or the new content, never a torn one, and
 * the bytes are on disk before the rename makes them visible.
 */
export async function writeFileAtomic0600(path: string, content: string): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, 0o600);
  try {
    await fh.chmod(0o600); // the umask can only narrow the mode, but be explicit
    await fh.writeFile(content, 'utf8');
    await fh.sync();
  } catch (err) {
    await fh.close();
    await unlink(tmp).catch(() => {});
    throw err;
  }
  await fh.close();
  try {
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
  try {
    const dir = await open(dirname(path), 'r');
    await dir.sync().finally(() => dir.close());
  } catch {
    // Some filesystems refuse fsync on a directory; the rename is still atomic.
  }
}

/** Write the state file (0600, atomically), after checking it. */
export async function writeState(path: string, state: AgentState): Promise<void> {
  const parsed = AgentStateSchema.parse(state);
  checkStateConsistency(parsed);
  await writeFileAtomic0600(path, `${JSON.stringify(parsed, null, 2)}\n`);
}
