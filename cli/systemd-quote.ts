// systemd unit values built from paths the user chose (a config under "/srv/my lab", a `%` in a
// directory name): quoted and escaped so systemd reads back exactly that path.

/** One word of ExecStart= (a path with spaces quoted; `%` and `$` escaped). */
export function execWord(s: string): string {
  const esc = s.replace(/%/g, '%%').replace(/\$/g, '$$$$');
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? esc : `"${esc.replace(/(["\\])/g, '\\$1')}"`;
}

/** A path as a whole value (WorkingDirectory=): systemd takes the rest of the line, so only specifiers are escaped. */
export const unitPath = (s: string) => s.replace(/%/g, '%%');
