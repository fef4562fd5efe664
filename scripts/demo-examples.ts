/**
 * The API examples `npm start` prints, in the order they are meant to be run (issue 12: the bob
 * change was refused because the new password held his name, and the alice sign-in failed because
 * an earlier example had reset her password). Each says what it shows and the outcome it ends in
 * (`→ code`); test/e2e/demo-start.test.ts runs the printed lines in order and checks each code.
 *
 * New passwords carry `tag` (digits, new at each start) so that running them again after a restart
 * is not refused as a password from the history.
 */

export interface DemoExample {
  /** What running it shows. */
  shows: string;
  /** The outcome code of its answer (a writeback outcome, an API error code), or `ok` for a read. */
  expect: string;
  /** One shell command line. */
  command: string;
}

export interface DemoExampleInput {
  url: string;
  apiKey: string;
  /** The demo users' passwords as the demo set them. */
  users: Readonly<Record<string, string>>;
  /** Digits making this start's new passwords new. */
  tag: string;
}

export function demoExamples({ url: u, apiKey: k, users, tag }: DemoExampleInput): DemoExample[] {
  const admin = `-H 'authorization: Bearer ${k}'`;
  const json = `-H 'content-type: application/json'`;
  const aliceNew = `Sunny-Day-${tag}!`;
  const bobNew = `Maple-Creek-${tag}!`;
  const signIn = `curl -s -X POST ${u}/api/v1/tenants/demo/sign-in ${json} -d '{"login":"alice@demo.example","password":"${aliceNew}"}'`;
  return [
    {
      shows:
        "admin reset: alice's password is set in the directory in the same request (omit newPassword to generate one, shown once)",
      expect: 'succeeded',
      command: `curl -s -X POST ${u}/api/v1/tenants/demo/users/alice/password/reset ${admin} ${json} -d '{"newPassword":"${aliceNew}","forceChange":false}'`,
    },
    {
      shows: 'a policy failure says which rules (reasons: too_short, complexity) and what they are (policy)',
      expect: 'policy_violation',
      command: `curl -s -X POST ${u}/api/v1/tenants/demo/users/alice/password/reset ${admin} ${json} -d '{"newPassword":"short"}'`,
    },
    {
      shows: 'user change: bob gives his current password and a new one; the directory checks both in one write',
      expect: 'succeeded',
      command: `curl -s -X POST ${u}/api/v1/tenants/demo/password/change ${json} -d '{"username":"bob","currentPassword":"${users.bob}","newPassword":"${bobNew}"}'`,
    },
    {
      shows: 'minimum age (fine-grained policy "strict"): frank may not change yet; the answer says when he may',
      expect: 'policy_violation',
      command: `curl -s -X POST ${u}/api/v1/tenants/demo/password/change ${json} -d '{"username":"frank","currentPassword":"${users.frank}","newPassword":"Harbor-Night-${tag}!!"}'`,
    },
    {
      shows: "frank's effective policy: 14 characters, 1-day minimum age, and when he may change next",
      expect: 'succeeded',
      command: `curl -s ${u}/api/v1/tenants/demo/users/frank/policy ${admin}`,
    },
    {
      shows: 'dave is a protected (admin) account: writeback refuses to touch it',
      expect: 'protected_account',
      command: `curl -s -X POST ${u}/api/v1/tenants/demo/users/dave/password/reset ${admin} ${json} -d '{"newPassword":"Valid-Pass-${tag}!"}'`,
    },
    {
      shows: "carol's account is disabled: an unlock says so",
      expect: 'account_disabled',
      command: `curl -s -X POST ${u}/api/v1/tenants/demo/users/carol/unlock ${admin}`,
    },
    {
      shows: 'the audit log: every example above, with its outcome (never a password)',
      expect: 'ok',
      command: `curl -s ${u}/api/v1/tenants/demo/audit ${admin}`,
    },
    {
      shows: 'the users the cloud synced from the directory',
      expect: 'ok',
      command: `curl -s '${u}/api/v1/tenants/demo/users?search=a' ${admin}`,
    },
    {
      shows: 'one user: is writeback offered for carol?',
      expect: 'ok',
      command: `curl -s ${u}/api/v1/tenants/demo/users/carol ${admin}`,
    },
    {
      shows: 'the sync state',
      expect: 'ok',
      command: `curl -s ${u}/api/v1/tenants/demo/sync ${admin}`,
    },
    {
      shows:
        "end-user sign-in with alice's password from the reset above: checked against the cloud's own hash, which the reset through it kept (via: cloud_hash)",
      expect: 'succeeded',
      command: signIn,
    },
    {
      shows: 'sign-in mode (and the mass-delete guard) are tenant settings: from now on, ask the directory',
      expect: 'ok',
      command: `curl -s -X PATCH ${u}/api/v1/tenants/demo/settings ${admin} ${json} -d '{"signIn":{"mode":"pass_through"}}'`,
    },
    {
      shows: 'the same sign-in, now checked by the directory (via: pass_through)',
      expect: 'succeeded',
      command: signIn,
    },
    {
      shows: "the service's health: store, relay, agents connected",
      expect: 'ok',
      command: `curl -s ${u}/healthz`,
    },
  ];
}

/** The examples as the banner prints them: `# n. what it shows → code`, then the command. */
export function formatExamples(examples: readonly DemoExample[]): string {
  return examples.map((e, i) => `  # ${i + 1}. ${e.shows} → ${e.expect}\n  ${e.command}`).join('\n');
}
