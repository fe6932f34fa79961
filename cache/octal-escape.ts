/**
 * Decodes `\ooo` escapes (octal bytes, UTF-8 together), as getfattr writes names and
 * /proc/self/mountinfo writes mount points.
 */
export function unoctal(s: string): string {
  if (!s.includes('\\')) return s;
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++)
    if (s[i] === '\\' && /^[0-7]{3}$/.test(s.slice(i + 1, i + 4))) {
      bytes.push(Number.parseInt(s.slice(i + 1, i + 4), 8));
      i += 3;
    } else bytes.push(...Buffer.from(s[i], 'utf8'));
  return Buffer.from(bytes).toString('utf8');
}
