/**
 * Configuration of the embedded directory: where it keeps its files, how expensive its password
 * hashes are, how durable each write is, and the default password policy. Parsed once at start-up
 * into a frozen object; a bad option throws a TypeError naming its dotted path.
 */
import { z } from 'zod';
import type { Logger } from '@writeback/protocol';

/** scrypt cost parameters (N: CPU/memory cost, a power of two; r: block size; p: parallelism). */
export interface HashCost {
  N: number;
  r: number;
  p: number;
}

/**
 * Named scrypt costs. `standard` (16 MiB, ~30 ms a hash) is the default and the one to run with;
 * `fast` (128 KiB, ~0.2 ms) exists so tests and the benchmark can push thousands of writes a second
 * on two cores: it protects a stolen store far less and must not be used for real accounts.
 */
export const HASH_COST: Readonly<{ standard: Readonly<HashCost>; fast: Readonly<HashCost> }> = Object.freeze({
  standard: Object.freeze({ N: 16384, r: 8, p: 1 }),
  fast: Object.freeze({ N: 1024, r: 1, p: 1 }),
});

const isPowerOfTwo = (n: number) => Number.isInteger(n) && n >= 2 && (n & (n - 1)) === 0;

/** Bounds keep one hash below 256 MiB of memory, whatever a config file or a stored hash says. */
export const HashCostSchema = z
  .object({
    N: z
      .number()
      .int()
      .min(2)
      .max(2 ** 20)
      .refine(isPowerOfTwo, 'N must be a power of two'),
    r: z.number().int().min(1).max(32),
    p: z.number().int().min(1).max(16),
  })
  .strict()
  .refine((c) => 128 * c.N * c.r * c.p <= 256 * 1024 * 1024, 'N*r*p too large (over 256 MiB)');

const seconds = z
  .number()
  .finite()
  .min(0)
  .max(100 * 365 * 24 * 3600);

/**
 * Password policy settings, every field optional: used for the default policy (over the AD-like
 * defaults) and for fine-grained policies (over the default policy, field by field).
 */
export const PolicySettingsSchema = z
  .object({
    minLength: z.number().int().min(0).max(256),
    maxLength: z.number().int().min(1).max(256),
    complexity: z.boolean(),
    /** Passwords remembered, the current one included (AD "Enforce password history"). */
    historyLength: z.number().int().min(0).max(1024),
    minAgeSeconds: seconds,
    /** 0: passwords never expire. */
    maxAgeSeconds: seconds,
    /** Bad attempts before lockout; 0: never lock. */
    lockoutThreshold: z.number().int().min(0).max(1000),
    /** How long a lockout lasts; 0: until an administrator unlocks. */
    lockoutDurationSeconds: seconds,
    /** Window after which the bad-attempt counter starts over (AD "Reset account lockout counter after"). */
    lockoutObservationSeconds: seconds,
  })
  .partial()
  .strict();
export type PolicySettings = z.infer<typeof PolicySettingsSchema>;

export const EmbeddedConfigSchema = z
  .object({
    kind: z.literal('embedded'),
    /** Folder holding the snapshot, the journal and the lock file; created when missing. */
    path: z.string().min(1).max(4096),
    hash: HashCostSchema.default({ ...HASH_COST.standard }),
    /** 'os': a write is in the OS cache before the answer (survives a process crash, not a power loss); 'fsync': on disk. */
    durability: z.enum(['os', 'fsync']).default('os'),
    /** Allow resets, changes and unlocks of protected accounts (AD adminCount=1). */
    allowProtected: z.boolean().default(false),
    /** Default-policy fields set at every open (fields not named keep what setDefaultPolicy stored). */
    policy: PolicySettingsSchema.optional(),
    /**
     * Users the directory serves and syncs to the cloud: members of at least one of these groups.
     * Users outside it are never synced and writes to them answer user_not_found. Absent: everyone.
     */
    syncScope: z
      .object({ groups: z.array(z.string().min(1).max(256)).min(1).max(100) })
      .strict()
      .optional(),
    /** Compact the journal into the snapshot once it is larger than this and than the snapshot. */
    compactAfterBytes: z
      .number()
      .int()
      .min(1)
      .max(2 ** 40)
      .default(8 * 1024 * 1024),
  })
  .strict();

/** The embedded directory's configuration as written (defaults not yet applied). */
export type EmbeddedConfig = z.input<typeof EmbeddedConfigSchema>;
/** The configuration after parsing: defaults applied, frozen. */
export type ResolvedEmbeddedConfig = Readonly<z.output<typeof EmbeddedConfigSchema>>;

/**
 * Parse a configuration (from a file or from code). Throws TypeError naming the dotted option path,
 * e.g. `directory.hash.N: N must be a power of two`; warns through `log` when the hash cost is below
 * the standard one.
 */
export function parseEmbeddedConfig(
  input: unknown,
  opts: { prefix?: string; log?: Logger } = {},
): ResolvedEmbeddedConfig {
  const parsed = EmbeddedConfigSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = [opts.prefix, ...(issue?.path ?? []).map(String)].filter((p) => p !== undefined && p !== '').join('.');
    throw new TypeError(`${path || '(config)'}: ${issue?.message ?? 'invalid'}`);
  }
  const cfg = parsed.data;
  const { policy } = cfg;
  if (policy?.minLength !== undefined && policy.maxLength !== undefined && policy.minLength > policy.maxLength) {
    throw new TypeError(`${opts.prefix ? `${opts.prefix}.` : ''}policy.minLength: greater than policy.maxLength`);
  }
  const std = HASH_COST.standard;
  if (cfg.hash.N * cfg.hash.r * cfg.hash.p < std.N * std.r * std.p) {
    opts.log?.warn(
      'embedded directory: password hash cost below the standard one; fine for tests and benchmarks only',
      {
        hashCost: cfg.hash,
      },
    );
  }
  return Object.freeze({
    ...cfg,
    hash: Object.freeze({ ...cfg.hash }),
    ...(policy ? { policy: Object.freeze({ ...policy }) } : {}),
    ...(cfg.syncScope ? { syncScope: Object.freeze({ groups: [...cfg.syncScope.groups] }) } : {}),
  });
}
