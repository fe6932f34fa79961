import { describe, expect, it } from 'vitest';
import { type Issues, p, parseShape, type Schema } from '../../core/schema.js';

const issues = (): Issues => ({ errors: [], warnings: [] });
/** What `s` makes of `v` at field `f`, and the problems it reports. */
function parse<O>(s: Schema<O, any>, v: unknown) {
  const i = issues();
  return { value: s.parse(v, 'f', i), errors: i.errors };
}
const accepts = (s: Schema<any, any>, v: unknown) => parse(s, v).errors.length === 0;

describe('p.mac', () => {
  it('takes six hex pairs in either case and gives them in lower case', () => {
    expect(parse(p.mac(), '52:54:00:AB:cd:EF')).toEqual({ value: '52:54:00:ab:cd:ef', errors: [] });
  });
  it.each([
    '12:34:56',
    '52-54-00-12-34-56',
    '52:54:00:12:34:5g',
    '52:54:00:12:34:56:78',
    ' 52:54:00:12:34:56',
    525400123456,
  ])('refuses %j, naming the field', (v) =>
    expect(parse(p.mac(), v).errors).toEqual([`f: ${JSON.stringify(v)} is not a MAC address`]),
  );
  it('calls a missing one a missing MAC address', () => {
    expect(parse(p.mac(), undefined).errors).toEqual(['f: required MAC address is missing']);
  });
});

describe('p.ipv4', () => {
  it.each(['0.0.0.0', '10.0.2.15', '255.255.255.255', '192.168.1.9'])('takes %s', (v) =>
    expect(accepts(p.ipv4(), v)).toBe(true),
  );
  it.each(['10.0.0.300', '10.0.0', '10.0.0.1.2', '010.0.0.1', '10.0.0.-1', 'san.lan', '::1', ' 10.0.0.1', 10])(
    'refuses %j',
    (v) => expect(parse(p.ipv4(), v).errors).toEqual([`f: ${JSON.stringify(v)} is not an IPv4 address`]),
  );
  it('says why in its own words when given them', () => {
    expect(parse(p.ipv4('an IPv4 address (no DNS at boot)'), 'x').errors).toEqual([
      'f: "x" is not an IPv4 address (no DNS at boot)',
    ]);
  });
});

describe('p.hostName: labels of letters, digits, _ and - joined by single dots', () => {
  it.each(['a', 'web', 'web.lab', 'my_host', 'k-8.a_b.c', '0day', 'x'.repeat(63)])('takes %s', (v) =>
    expect(accepts(p.hostName(), v)).toBe(true),
  );
  it.each(['', 'a..b', 'a.', '.a', '-a', '_a', 'a b', 'a/b', 'a\nb', 'x'.repeat(64), 'é'])('refuses %j', (v) =>
    expect(parse(p.hostName(), v).errors[0]).toMatch(/is not a valid host name/),
  );
});

describe('p.section', () => {
  const s = p.section({ a: p.number().default(1), b: p.optional(p.string()) });
  it('reads a missing section as {} and fills in its defaults', () =>
    expect(parse(s, undefined)).toEqual({ value: { a: 1 }, errors: [] }));
  it('still refuses what is not an object', () => expect(parse(s, 5).errors).toEqual(['f: 5 is not an object']));
});

describe('p.custom', () => {
  const even = p.custom<number>('even number', (v, path, i) =>
    v === 2 || v === 4 ? v : void i.errors.push(`${path}: odd`),
  );
  it('lets its check decide and report', () => {
    expect(parse(even, 4)).toEqual({ value: 4, errors: [] });
    expect(parse(even, 3).errors).toEqual(['f: odd']);
  });
  it('calls a missing value by its type', () =>
    expect(parse(even, undefined).errors).toEqual(['f: required even number is missing']));
});

describe('parseShape', () => {
  const shape = { n: p.number({ integer: true, min: 1 }), s: p.string().default('x') };
  it('names fields under the path, and at the top level by their key alone', () => {
    const i = issues();
    parseShape(shape, { n: 0, extra: 1 }, 'at', i);
    parseShape(shape, { n: 1.5, extra: 1 }, '', i);
    expect(i.errors).toEqual(['at.n: 0 is below the minimum 1', 'n: 1.5 is not an integer']);
    expect(i.warnings).toEqual(['at.extra: unknown key (ignored)', 'extra: unknown key (ignored)']);
  });
  it('applies defaults and leaves nothing undefined in its result', () => {
    expect(parseShape({ ...shape, o: p.optional(p.string()) }, { n: 2 }, 'at', issues())).toEqual({ n: 2, s: 'x' });
  });
});
