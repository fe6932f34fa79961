import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isNetbootError } from '../base/errors.js';
import { validateConfig } from '../cli/config-validate.js';
import { builtinRecipes } from '../pipelines/index.js';
import { renderIscsiNodeScript } from '../plugins/debian/iscsi.js';
import { rcLines } from '../plugins/freebsd/rc-files.js';
import { Project, ROOT } from './helpers.js';

// If any of these ran as a command, this file would appear.
const CANARY = `/dev/shm/netboot-canary-${randomBytes(6).toString('hex')}`;
const HOSTILE = [
  `x'; touch ${CANARY}; '`,
  `x"; touch ${CANARY}; "`,
  `$(touch ${CANARY})`,
  `\`touch ${CANARY}\``,
  `x; touch ${CANARY}`,
  `x && touch ${CANARY}`,
  `x | tee ${CANARY}`,
  `x\ntouch ${CANARY}`,
  `x\rtouch ${CANARY}`,
  `x\u0000touch ${CANARY}`,
  `-oProxyCommand=touch_${CANARY}`,
  ' two  spaced words ',
  '*',
  '[a-z]?*',
];

/**
 * Every host of test/fixtures/hostile-values (one per place a value reaches a script or a file)
 * whose value may be accepted, and how the value is shown to be written literally. A host not
 * listed here must refuse every hostile value.
 */
const PROOF: Record<string, string> = {
  'demo-motd': 'published tarball: etc/motd holds exactly the value',
  'demo-args': 'published pxelinux entry: the APPEND line ends with the value, and there is one LABEL',
  'entry-args': 'published pxelinux.cfg of the pxelinux plugin: the APPEND line ends with the value',
  'nbd-args': 'the same schema and pxelinux plugin as entry-args',
  'nbd-key': 'written by writeFile into authorized_keys; test/debian-nbd.test.ts builds one for real',
  'kvm-secret': 'the iSCSI boot script, run by sh: iscsiadm gets the file named by the value',
  'fb-rc': 'rc.conf, sourced by sh: the variable holds exactly the value',
};
/** The fixture's hosts, in its order: one line `  'name': { recipe: ...` each. */
const SITES = [
  ...readFileSync(join(ROOT, 'test/fixtures/hostile-values/netboot.config.ts'), 'utf8').matchAll(
    /^ {2}'([a-z-]+)': \{\s*recipe:/gm,
  ),
].map((m) => m[1]);

const project = new Project('hostile-values');
const scratch = mkdtempSync(join(tmpdir(), 'netboot-hostile-'));
afterAll(() => {
  project.remove();
  rmSync(scratch, { recursive: true, force: true });
  rmSync(CANARY, { force: true });
});

describe('no config value reaches a shell unquoted', () => {
  it('the fixture has a host for every place listed, and more', () => {
    expect(SITES.length).toBeGreaterThanOrEqual(20);
    for (const s of Object.keys(PROOF)) expect(SITES).toContain(s);
  });

  it.each(HOSTILE.map((v) => [JSON.stringify(v), v]))(
    '%s is refused naming its field, or written literally',
    (_, v) => {
      const env = { HOSTILE: JSON.stringify(v) };
      const r = project.run(['ls'], env);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).not.toContain('internal error');
      const accepted = SITES.filter((s) => !r.stderr.includes(`hosts.${s}.params.`));
      // motd is free text written by fs: every value is accepted there, so every value is built and checked.
      expect(accepted).toContain('demo-motd');
      for (const s of accepted)
        expect(PROOF[s], `${s} accepted ${JSON.stringify(v)} with no proof that it is written literally`).toBeDefined();

      // What the config let through is built and published by the real CLI; the pxelinux plugin
      // refuses its own APPEND line by itself, so a refusal there names its host and step.
      let buildable = accepted.filter((s) => ['demo-motd', 'demo-args', 'entry-args'].includes(s));
      const publish = () =>
        buildable.length
          ? project.run(['publish', ...buildable], { ...env, HOSTS: buildable.join(',') })
          : { code: 0, stderr: '' };
      let pub = publish();
      if (pub.code === 2 && pub.stderr.includes('host entry-args, step tftp params.append')) {
        buildable = buildable.filter((s) => s !== 'entry-args');
        expect(accepted).not.toContain('nbd-args');
        pub = publish();
      }
      expect(pub.code, pub.stderr).toBe(0);
      if (buildable.includes('demo-motd'))
        expect(
          execFileSync('tar', ['-xzOf', project.path('san/tftp/demo-motd/rootfs.tar.gz'), './etc/motd'], {
            encoding: 'utf8',
          }),
        ).toBe(v);
      if (buildable.includes('demo-args')) {
        const entry = readFileSync(project.path('san/tftp/demo-args/pxelinux.cfg/01-52-54-00-12-35-11'), 'utf8');
        expect(entry).toContain(`\n  APPEND console=ttyS0 rdinit=/init ${v}\n`);
        expect(entry.match(/^\s*LABEL/gm)).toHaveLength(1);
      }
      if (buildable.includes('entry-args'))
        expect(readFileSync(project.path('san/tftp/entry-args/pxelinux.cfg/default'), 'utf8')).toContain(
          `\n  APPEND console=ttyS0 ${v}\n`,
        );
      if (accepted.includes('kvm-secret')) iscsiScriptTakesLiterally(v);
      if (accepted.includes('fb-rc')) rcConfHoldsLiterally(v);
      expect(existsSync(CANARY)).toBe(false);
    },
  );

  it.each(HOSTILE.map((v) => [JSON.stringify(v), v]))(
    '%s in a SAN root (local path, ssh user, host or path) is refused naming the root',
    (_, v) => {
      const file = project.path('netboot.config.ts');
      const hosts = { demo: { recipe: 'demo', mac: '52:54:00:12:34:56', ip: '10.0.2.15' } };
      const roots = {
        tftp: `san/${v}`,
        nfs: `ssh://${v}@10.0.2.2/srv/nfs`,
        nbd: `ssh://${v}/srv/nbd`,
        conf: `ssh://root@10.0.2.2/srv/conf/${v}`,
      };
      for (const [root, value] of Object.entries(roots)) {
        let accepted: ReturnType<typeof validateConfig> | undefined;
        try {
          accepted = validateConfig({ cache: 'cache', san: { [root]: value }, hosts }, file, builtinRecipes);
        } catch (e) {
          expect(isNetbootError(e) && e.exitCode === 2, String(e)).toBe(true);
          expect((e as Error).message).toContain(`san.${root}: `);
        }
        // Accepted only as itself: the resolved root is the value, as written.
        if (accepted) expect(accepted.san[root as 'tftp']).toBe(root === 'tftp' ? resolve(project.dir, value) : value);
      }
      expect(existsSync(CANARY)).toBe(false);
    },
  );
});

/** Runs the kvm-host iSCSI boot script with a stand-in iscsiadm that records its arguments. */
function iscsiScriptTakesLiterally(v: string) {
  const dir = mkdtempSync(join(scratch, 'iscsi-'));
  const secretFile = join(dir, 'secrets', v);
  mkdirSync(dirname(secretFile), { recursive: true });
  writeFileSync(secretFile, 'chap-secret-1');
  mkdirSync(join(dir, 'bin'));
  writeFileSync(
    join(dir, 'bin/iscsiadm'),
    '#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done >> "$LOG"; echo --- >> "$LOG"\n',
  );
  chmodSync(join(dir, 'bin/iscsiadm'), 0o755);
  const script = renderIscsiNodeScript({
    portal: '10.0.2.2',
    target: 'iqn.2026-11.lab.san:kvm',
    chapUser: 'kvm',
    secretFile,
  });
  writeFileSync(join(dir, 'node.sh'), script);
  const log = join(dir, 'log');
  execFileSync('sh', [join(dir, 'node.sh')], {
    env: { ...process.env, PATH: `${dir}/bin:${process.env.PATH}`, LOG: log },
  });
  const calls = readFileSync(log, 'utf8')
    .split('---\n')
    .map((c) => c.split('\n').filter(Boolean));
  expect(calls).toContainEqual([
    '-m',
    'node',
    '-T',
    'iqn.2026-11.lab.san:kvm',
    '-p',
    '10.0.2.2:3260',
    '-o',
    'update',
    '-n',
    'node.session.auth.password',
    '-v',
    'chap-secret-1',
  ]);
}

/** rc.conf as freebsd-customize writes it, sourced the way /etc/rc does. */
function rcConfHoldsLiterally(v: string) {
  const file = join(scratch, `rc.conf-${randomBytes(3).toString('hex')}`);
  writeFileSync(file, `${rcLines({ netboot_x: v }, 'rcConf').join('\n')}\n`);
  expect(execFileSync('sh', ['-c', '. "$1"; printf %s "$netboot_x"', 'sh', file], { encoding: 'utf8' })).toBe(v);
}
