import { describe, expect, it } from 'vitest';
import { errors, isNetbootError, NetbootError } from '../../base/errors.js';

describe('NetbootError', () => {
  it('exits 2 for usage and config errors, 1 for build and internal ones', () => {
    expect(new NetbootError('BAD_OPTION', 'usage', 'm').exitCode).toBe(2);
    expect(new NetbootError('BAD_OPTION', 'config', 'm').exitCode).toBe(2);
    expect(new NetbootError('BAD_OPTION', 'build', 'm').exitCode).toBe(1);
    expect(new NetbootError('BAD_OPTION', 'internal', 'm').exitCode).toBe(1);
  });

  it('builders give each error its stable code and kind', () => {
    const cases: [NetbootError, string, number][] = [
      [errors.unknownHost('x', ['a', 'b']), 'UNKNOWN_HOST', 2],
      [errors.configInvalid('/c.ts', ['hosts.a.mac: bad']), 'CONFIG_INVALID', 2],
      [errors.graphCycle('h', ['a', 'b', 'a']), 'GRAPH_CYCLE', 2],
      [errors.missingTool('mke2fs', 'e2fsprogs', 'h', 's'), 'MISSING_TOOL', 1],
      [errors.diskFull('/cache'), 'DISK_FULL', 1],
      [errors.interrupted('SIGINT'), 'INTERRUPTED', 1],
    ];
    for (const [e, code, exit] of cases) {
      expect(e).toBeInstanceOf(NetbootError);
      expect(isNetbootError(e)).toBe(true);
      expect({ code: e.code, exit: e.exitCode }).toEqual({ code, exit });
    }
  });

  it('messages name what and where', () => {
    expect(errors.unknownHost('x', ['a', 'b']).message).toBe('unknown host "x"; configured hosts: a, b');
    expect(errors.graphCycle('h', ['a', 'b', 'a']).message).toMatch(/host h: .*a -> b -> a/);
    expect(errors.missingTool('mke2fs', 'e2fsprogs', 'h', 's').message).toMatch(/host h, step s: .*mke2fs.*e2fsprogs/);
  });

  it('a config error lists the first problem in the message and the rest as details', () => {
    const e = errors.configInvalid('/c.ts', ['one', 'two', 'three']);
    expect(e.message).toBe('/c.ts: one');
    expect(e.details).toEqual(['two', 'three']);
  });

  it('a failed step carries its log tail and log path as details', () => {
    const e = errors.stepFailed('h', 's', 'exit 1', ['a', 'b'], '/cache/logs/k.log');
    expect(e.code).toBe('STEP_FAILED');
    expect(e.details).toEqual(['last log lines:', '  a', '  b', 'full log: /cache/logs/k.log']);
    expect(errors.stepFailed('h', 's', 'exit 1', [], undefined).details).toEqual([]);
  });

  it('keeps the cause', () => {
    const cause = new Error('ENOENT');
    expect(errors.configLoad('/c.ts', 'boom', cause).cause).toBe(cause);
  });

  it('inStep places an error in a host and step and keeps its code, kind and details', () => {
    const inner = errors.configInvalid('/c.ts', ['one', 'two']);
    const e = errors.inStep('h', 's', inner);
    expect(e.message).toBe('host h, step s: /c.ts: one');
    expect({ code: e.code, kind: e.kind, exit: e.exitCode, details: e.details }).toEqual({
      code: inner.code,
      kind: inner.kind,
      exit: 2,
      details: ['two'],
    });
    expect(e.cause).toBe(inner);
  });

  it('isNetbootError is false for other errors and non-errors', () => {
    expect(isNetbootError(new Error('x'))).toBe(false);
    expect(isNetbootError({ code: 'X', kind: 'build' })).toBe(false);
    expect(isNetbootError(undefined)).toBe(false);
  });
});
