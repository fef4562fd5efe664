/**
 * Mail: the SMTP mailer delivers to a real SMTP listener (smtp-server), the development mailer
 * keeps messages and logs no body, recipients must be one plain address, config names bad options.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createLogger } from '@writeback/protocol';
import { startSmtpCapture } from '@writeback/testkit/smtp';
import { loadConfig, configWarnings } from '../src/config.js';
import {
  createConsoleSmsProvider,
  createMailerFromConfig,
  createMemoryMailer,
  createSmtpMailer,
  MailError,
  redactAddress,
} from '../src/mail/index.js';

const CODE = '493817';

function logLines(): { lines: string[]; log: ReturnType<typeof createLogger> } {
  const lines: string[] = [];
  return { lines, log: createLogger({ name: 'mail-test', sink: (l) => lines.push(l) }) };
}

const code = (fn: () => unknown) => async () => {
  try {
    await fn();
  } catch (err) {
    return err instanceof MailError ? err.code : 'other';
  }
  return 'none';
};

describe('mail', () => {
  test('SMTP mailer delivers text and html to a real SMTP server; the log has neither body nor full address', async () => {
    const smtp = await startSmtpCapture();
    const { lines, log } = logLines();
    const mailer = createSmtpMailer(
      { host: smtp.host, port: smtp.port, security: 'none', from: 'Writeback <no-reply@example.test>' },
      log,
    );
    try {
      await mailer.send({
        to: 'alice@example.test',
        subject: 'Your code: ünïcode',
        text: `Your code is ${CODE}.`,
        html: `<p>Your code is <b>${CODE}</b>.</p>`,
      });
      const got = await smtp.waitFor('alice@example.test');
      assert.deepEqual(got.to, ['alice@example.test']);
      assert.equal(got.from, 'no-reply@example.test');
      assert.equal(got.subject, 'Your code: ünïcode');
      assert.ok(got.text.includes(CODE));
      assert.ok(got.html?.includes(`<b>${CODE}</b>`));
      assert.equal(lines.length, 1);
      assert.ok(!lines[0]?.includes(CODE));
      assert.ok(!lines[0]?.includes('alice@'));
    } finally {
      await mailer.close();
      await smtp.close();
    }
  });

  test('SMTP failure is MailError transport_failed; a bad recipient is invalid_recipient before any connection', async () => {
    const mailer = createSmtpMailer({
      host: '127.0.0.1',
      port: 1,
      security: 'none',
      from: 'x@example.test',
      timeoutMs: 2000,
    });
    assert.equal(
      await code(() => mailer.send({ to: 'bob@example.test', subject: 's', text: 't' }))(),
      'transport_failed',
    );
    for (const to of ['bob', 'a@b.c, evil@x.y', 'Bob <bob@example.test>', 'bob@example.test\r\nBcc: x@y.z']) {
      assert.equal(await code(() => mailer.send({ to, subject: 's', text: 't' }))(), 'invalid_recipient', to);
    }
    await mailer.close();
  });

  test('memory mailer keeps messages, waitFor resolves on the next one, logs only a redacted line', async () => {
    const { lines, log } = logLines();
    const mailer = createMemoryMailer({ log });
    const waiting = mailer.waitFor('Carol@Example.test');
    await mailer.send({ to: 'carol@example.test', subject: 'Code', text: `code ${CODE}` });
    assert.ok((await waiting).text.includes(CODE));
    assert.equal(mailer.messages.length, 1);
    assert.equal(lines.length, 1);
    assert.ok(!lines.join('').includes(CODE) && !lines.join('').includes('carol@'));
    await assert.rejects(mailer.waitFor('nobody@example.test', { timeoutMs: 10 }));
    const sms = createConsoleSmsProvider({ log });
    await sms.send({ to: '+44 7700 900123', text: `code ${CODE}` });
    assert.equal(sms.messages[0]?.text, `code ${CODE}`);
    assert.ok(!lines.join('').includes(CODE) && !lines.join('').includes('900123'));
  });

  test('redactAddress keeps the domain or the last two digits', () => {
    assert.equal(redactAddress('alice@example.com'), 'a***@example.com');
    assert.equal(redactAddress('+44 7700 900123'), '***23');
  });

  test('config: SMTP from the environment, defaults, errors name the option, insecure choices warn', () => {
    const mem = loadConfig({ env: {} });
    assert.equal(mem.mail.transport, 'memory');
    assert.equal(createMailerFromConfig(mem).kind, 'memory');
    const c = loadConfig({
      env: { SMTP_HOST: 'smtp.example.com', SMTP_USER: 'wb', SMTP_PASSWORD: 'pw', MAIL_FROM: 'id@example.com' },
    });
    assert.equal(c.mail.transport, 'smtp');
    assert.equal(c.mail.smtp?.port, 587);
    assert.equal(c.mail.smtp?.security, 'starttls');
    assert.equal(c.mail.smtp?.rejectUnauthorized, true);
    assert.equal(c.mail.from, 'id@example.com');
    assert.throws(
      () => loadConfig({ env: { MAIL_TRANSPORT: 'smtp' } }),
      /^TypeError: config\.mail\.smtp\.host \(SMTP_HOST\)/,
    );
    assert.throws(
      () => loadConfig({ env: { SMTP_HOST: 'h', SMTP_SECURITY: 'ssl' } }),
      /config\.mail\.smtp\.security \(SMTP_SECURITY\)/,
    );
    assert.throws(
      () => loadConfig({ env: { SMTP_HOST: 'h', SMTP_PASSWORD: 'a', SMTP_PASSWORD_FILE: '/x' } }),
      /SMTP_PASSWORD_FILE/,
    );
    const w = configWarnings(
      loadConfig({
        env: { SMTP_HOST: 'mail.example.com', SMTP_SECURITY: 'none', SMTP_TLS_REJECT_UNAUTHORIZED: 'false' },
      }),
    );
    assert.ok(w.some((x) => x.includes('SMTP_SECURITY')));
    assert.ok(w.some((x) => x.includes('SMTP_TLS_REJECT_UNAUTHORIZED')));
  });
});
