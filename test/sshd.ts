import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../boot/processes.js';

/** A real OpenSSH server on 127.0.0.1 with its own host key, config and client key. Stop it with stop(). */
export class TestSshd {
  readonly dir = mkdtempSync(join(tmpdir(), 'netboot-sshd-'));
  readonly clientKey = join(this.dir, 'client_key');
  port = 0;
  private child?: ChildProcess;

  async start(): Promise<void> {
    this.port = await freePort();
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(this.dir, 'host_key')]);
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', this.clientKey]);
    writeFileSync(join(this.dir, 'authorized_keys'), readFileSync(`${this.clientKey}.pub`));
    const config = [
      `Port ${this.port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${join(this.dir, 'host_key')}`,
      `PidFile ${join(this.dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${join(this.dir, 'authorized_keys')}`,
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
    ].join('\n');
    writeFileSync(join(this.dir, 'sshd_config'), `${config}\n`);
    mkdirSync('/run/sshd', { recursive: true });
    this.child = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', join(this.dir, 'sshd_config')], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    this.child.stderr!.on('data', (d) => (err += d));
    for (let i = 0; i < 100; i++) {
      if (await canConnect(this.port)) return;
      if (this.child.exitCode !== null) break;
      await sleep(50);
    }
    throw new Error(`sshd did not start: ${err}`);
  }

  async stop(): Promise<void> {
    if (this.child && this.child.exitCode === null) {
      const exited = new Promise((r) => this.child!.once('exit', r));
      this.child.kill('SIGTERM');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
