import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonicalJson, sha256 } from '../../base/canonical.js';

describe('canonicalJson', () => {
  it('sorts object keys, so insertion order does not matter', () => {
    expect(canonicalJson({ b: 1, a: 2 })).toBe('{"a":2,"b":1}');
    expect(canonicalJson({ b: 1, a: 2 })).toBe(canonicalJson({ a: 2, b: 1 }));
  });

  it('sorts the keys of nested objects too, and writes no whitespace', () => {
    expect(canonicalJson({ z: { y: 1, x: [{ d: 1, c: 2 }] }, a: null })).toBe(
      '{"a":null,"z":{"x":[{"c":2,"d":1}],"y":1}}',
    );
  });

  it('keeps array order: a list is not a set', () => {
    expect(canonicalJson([3, 1, 2])).toBe('[3,1,2]');
    expect(canonicalJson([1, 2])).not.toBe(canonicalJson([2, 1]));
  });

  it('writes numbers as JSON does and refuses NaN and infinities', () => {
    expect(canonicalJson({ n: 1.5, m: -0, e: 1e21 })).toBe('{"e":1e+21,"m":0,"n":1.5}');
    expect(() => canonicalJson({ x: Number.NaN })).toThrow(/\$\.x: NaN cannot be part of a key/);
    expect(() => canonicalJson([Number.POSITIVE_INFINITY])).toThrow(/\$\[0\]/);
  });

  it('drops undefined members, so an absent key and an undefined one are the same', () => {
    expect(canonicalJson({ a: 1, b: undefined })).toBe('{"a":1}');
    expect(canonicalJson({ a: 1, b: undefined })).toBe(canonicalJson({ a: 1 }));
  });

  it('writes undefined array elements as null, keeping positions', () => {
    expect(canonicalJson([1, undefined, 3])).toBe('[1,null,3]');
  });

  it('refuses functions, symbols and bigints, naming where they are', () => {
    expect(() => canonicalJson({ a: { f: () => 1 } })).toThrow(/\$\.a\.f: a function cannot be part of a key/);
    expect(() => canonicalJson({ s: Symbol('x') })).toThrow(/symbol/);
    expect(() => canonicalJson({ n: 1n })).toThrow(/bigint/);
  });

  it('keeps strings exact, including unicode and quotes', () => {
    expect(canonicalJson({ s: 'ä "q"\n' })).toBe('{"s":"ä \\"q\\"\\n"}');
  });
});

describe('sha256', () => {
  it('is the hex sha256 of the bytes, for strings and buffers alike', () => {
    expect(sha256('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(sha256('abc')).toBe(createHash('sha256').update('abc').digest('hex'));
    expect(sha256(Buffer.from('abc'))).toBe(sha256('abc'));
  });

  it('of canonical JSON is the same for equal values built in any order', () => {
    expect(sha256(canonicalJson({ a: [1, { c: 1, b: 2 }], d: 'x' }))).toBe(
      sha256(canonicalJson({ d: 'x', a: [1, { b: 2, c: 1 }] })),
    );
    expect(sha256(canonicalJson({ a: 1 }))).not.toBe(sha256(canonicalJson({ a: 2 })));
  });
});
