import type { Count, HostDiff, TargetDiff } from '../publish/diff.js';

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

const count = (c: Count, what: string) => `${c.count} ${what}${c.count ? ` (${bytes(c.bytes)})` : ''}`;

/** A host diff as text lines: packages with their versions, then files per target (with `files`, their paths). */
export function diffLines(
  d: Omit<HostDiff, 'files'> & { files: (Omit<TargetDiff, 'paths'> & Partial<Pick<TargetDiff, 'paths'>>)[] },
  o: { files?: boolean; indent?: string } = {},
): string[] {
  const ind = o.indent ?? '';
  const out: string[] = [];
  if (d.packages) {
    const p = d.packages;
    out.push(`${ind}packages: ${p.upgraded.length} upgraded, ${p.added.length} added, ${p.removed.length} removed`);
    for (const x of p.upgraded) out.push(`${ind}  ${x.name} ${x.from} -> ${x.to}`);
    for (const x of p.added) out.push(`${ind}  + ${x.name} ${x.version}`);
    for (const x of p.removed) out.push(`${ind}  - ${x.name} ${x.version}`);
  }
  out.push(`${ind}files:`);
  for (const t of d.files) {
    const none = !t.added.count && !t.removed.count && !t.changed.count;
    out.push(
      `${ind}  ${t.target}: ` +
        (none
          ? 'unchanged'
          : `${count(t.added, 'added')}, ${count(t.removed, 'removed')}, ${count(t.changed, 'changed')}`),
    );
    if (!o.files || !t.paths) continue;
    for (const p of t.paths.added) out.push(`${ind}    + ${p}`);
    for (const p of t.paths.removed) out.push(`${ind}    - ${p}`);
    for (const p of t.paths.changed) out.push(`${ind}    ~ ${p}`);
  }
  return out;
}
