/**
 * What one hop between two processes costs on this machine, back to back and after the processes
 * sat idle as long as a directory write takes (35 ms for Samba). The whole path has one more
 * process hop each way than the direct call (cloud → agent → cloud), so on a machine where waking
 * an idle process is slow, the overhead grows with the directory's own time: on the 2-core VMs this
 * project is measured on, a loopback round trip has been seen at ~0.08 ms back to back and 0.4–1 ms
 * after 35 ms idle. Printed with every benchmark so figures from different days can be compared.
 */
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { percentile } from './stats.js';

const ECHO = `const s=require('net').createServer((c)=>{c.setNoDelay(true);c.on('data',(d)=>c.write(d));}).listen(0,'127.0.0.1',()=>process.stdout.write(String(s.address().port)+'\\n'));`;

export interface WakeProbe {
  /** Round trip p50 in ms with no pause between round trips. */
  hotMs: number;
  /** Round trip p50 in ms after `idleMs` of idleness. */
  idleMs: number;
  idleGapMs: number;
}

export async function probeWake(o: { idleGapMs?: number; hot?: number; idle?: number } = {}): Promise<WakeProbe> {
  const gap = o.idleGapMs ?? 35;
  const child = spawn(process.execPath, ['-e', ECHO], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
      child.once('error', reject);
      child.once('exit', () => reject(new Error('echo process exited')));
    });
    const sock = connect({ host: '127.0.0.1', port, noDelay: true });
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', () => resolve());
      sock.once('error', reject);
    });
    const payload = Buffer.alloc(256, 0x61);
    const once = async (): Promise<number> => {
      const t0 = performance.now();
      const got = new Promise<void>((r) => sock.once('data', () => r()));
      sock.write(payload);
      await got;
      return performance.now() - t0;
    };
    const hot: number[] = [];
    for (let i = 0; i < (o.hot ?? 300); i++) hot.push(await once());
    const idle: number[] = [];
    for (let i = 0; i < (o.idle ?? 40); i++) {
      await new Promise((r) => setTimeout(r, gap));
      idle.push(await once());
    }
    sock.destroy();
    const p50 = (xs: number[]) =>
      percentile(
        [...xs].sort((a, b) => a - b),
        50,
      );
    return { hotMs: p50(hot.slice(50)), idleMs: p50(idle), idleGapMs: gap };
  } finally {
    child.kill();
  }
}
