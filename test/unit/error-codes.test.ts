import { describe, expect, it } from 'vitest';
import { codes, errors, isNetbootError } from '../../base/errors.js';

describe('error codes', () => {
  it('each constant is its own name, so a code reads the same in code, tests and scripts', () => {
    for (const [name, value] of Object.entries(codes)) expect(value).toBe(name);
    expect(Object.isFrozen(codes)).toBe(true);
  });

  it('every builder makes an error whose code is one of the constants', () => {
    const known = new Set<string>(Object.values(codes));
    for (const [name, build] of Object.entries(errors)) {
      if (name === 'inStep' || name === 'pluginFailed') continue; // they carry another error's code
      // Any argument does, as long as it can be formatted: a one-element list reads as a string and a list.
      const arg = name === 'privateContent' ? [{ path: 'p', why: 'w' }] : ['a'];
      const args = Array.from({ length: build.length }, () => arg);
      const e = (build as (...a: unknown[]) => unknown)(...args);
      expect(isNetbootError(e), name).toBe(true);
      expect(known.has((e as { code: string }).code), name).toBe(true);
    }
  });
});
