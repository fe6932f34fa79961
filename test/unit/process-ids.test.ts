import { describe, expect, it } from 'vitest';
import { stopPid } from '../../boot/processes.js';
import { groupMembers } from '../../core/process-group.js';

// kill(0) and kill(-0) signal the caller's own process group. An empty pid file read as pid 0
// once made a boot test's cleanup SIGTERM the whole test run.
describe('process ids that are not a process', () => {
  for (const id of [0, -1, Number.NaN, 1.5])
    it(`${id} is refused before any signal is sent`, async () => {
      await expect(stopPid(id)).rejects.toThrow(/not a process id/);
      expect(() => groupMembers(id)).toThrow(/not a process group id/);
    });
});
