import { describe, expect, it } from 'vitest';
import type { ResolvedConfig } from '../../cli/config-validate.js';
import { units } from '../../cli/nightly-timer.js';

const config = (dir: string, nightly: Partial<ResolvedConfig['nightly']> = {}) =>
  ({
    dir,
    file: `${dir}/netboot.config.ts`,
    nightly: { onCalendar: '*-*-* 03:00:00', randomizedDelaySec: 1800, bootTest: {}, ...nightly },
  }) as unknown as ResolvedConfig;

describe('nightly timer units', () => {
  it('the timer: OnCalendar from the config, Persistent, a randomized delay, the service it starts', () => {
    const { timer } = units(
      config('/srv/netboot', { onCalendar: 'Sat *-*-* 01:15' }),
      '/usr/bin/node',
      '/n/bin/netboot.js',
    );
    expect(timer).toContain(
      '[Timer]\nOnCalendar=Sat *-*-* 01:15\nPersistent=true\nRandomizedDelaySec=1800\nUnit=netboot-nightly.service\n',
    );
    expect(timer).toContain('[Install]\nWantedBy=timers.target\n');
  });

  it('the service: one word per argument, quoted only where systemd needs it; % and $ escaped', () => {
    const { service } = units(config('/srv/my lab/100%'), '/usr/bin/node', '/opt/net boot/bin/netboot.js');
    expect(service).toContain('Type=oneshot\n');
    expect(service).toContain('WorkingDirectory=/srv/my lab/100%%\n');
    expect(service).toContain(
      'ExecStart=/usr/bin/node "/opt/net boot/bin/netboot.js" nightly --config "/srv/my lab/100%%/netboot.config.ts"\n',
    );
    expect(units(config('/srv/$HOME'), '/usr/bin/node', '/b.js').service).toContain('--config "/srv/$$HOME/');
  });
});
