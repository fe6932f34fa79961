// Registering unpacked pkg(8) packages so that `pkg` in the root knows them. pkg's database
// (/var/db/pkg/local.sqlite) has a schema that pkg migrates by its own version, and a diskless
// host's /var is a memory disk filled from var.cpio.gz at every boot: so the root carries each
// package's +MANIFEST and an rc.d script that has pkg itself register them (`pkg register -M`),
// dependencies first, before the jails start. Pure: the same manifests give the same files.
import { errors } from '../../base/errors.js';

export const PKG_DIR = 'var/db/netboot/pkg';

export interface PkgManifest {
  name: string;
  version: string;
  deps: string[];
  /** The +MANIFEST as registered: JSON, without its install scripts (they did not run either). */
  json: string;
}

/**
 * A package's +MANIFEST. pkg-create writes it as compact JSON (which UCL reads back), or as UCL
 * with `expand_manifest`; then the +COMPACT_MANIFEST (always JSON, without the file list) is used.
 */
export function readPkgManifest(meta: Map<string, Buffer>, where: string): PkgManifest {
  const json = (name: string) => {
    try {
      const b = meta.get(name);
      return b ? (JSON.parse(b.toString('utf8')) as Record<string, unknown>) : undefined;
    } catch {
      return undefined;
    }
  };
  const m = json('+MANIFEST') ?? json('+COMPACT_MANIFEST');
  const ok = (v: unknown) => typeof v === 'string' && /^[A-Za-z0-9][A-Za-z0-9._+,-]*$/.test(v);
  if (!m || !ok(m.name) || !ok(m.version))
    throw errors.badArchive(`${where}: a package needs a +MANIFEST naming it and its version`);
  const { scripts: _s, lua_scripts: _l, ...kept } = m;
  const deps = m.deps && typeof m.deps === 'object' ? Object.keys(m.deps).filter(ok).sort() : [];
  return { name: m.name as string, version: m.version as string, deps, json: `${JSON.stringify(kept)}\n` };
}

/** Dependencies before what needs them; ties (and cycles) by name, so the order is stable. */
export function registrationOrder(pkgs: PkgManifest[]): string[] {
  const by = new Map(pkgs.map((m) => [m.name, m]));
  const out: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (n: string) => {
    if (state.has(n) || !by.has(n)) return;
    state.set(n, 'visiting');
    for (const d of by.get(n)!.deps) visit(d);
    state.set(n, 'done');
    out.push(n);
  };
  for (const n of [...by.keys()].sort()) visit(n);
  return out;
}

/** The files to add to the root: the manifests, their order, and the rc.d script. */
export function pkgRegistration(pkgs: PkgManifest[]): Record<string, { content: string; mode: number }> {
  const files: Record<string, { content: string; mode: number }> = {};
  for (const m of pkgs) files[`${PKG_DIR}/${m.name}.manifest`] = { content: m.json, mode: 0o644 };
  files[`${PKG_DIR}/ORDER`] = { content: `${registrationOrder(pkgs).join('\n')}\n`, mode: 0o644 };
  files['usr/local/etc/rc.d/netboot_pkg'] = { content: registerScript(), mode: 0o555 };
  return files;
}

function registerScript(): string {
  return `#!/bin/sh
#
# PROVIDE: netboot_pkg
# REQUIRE: FILESYSTEMS
# BEFORE: ezjail
# KEYWORD: nojail
#
# Written by netboot. The packages of this diskless root were unpacked at build time; /var, where
# pkg keeps its database, is a memory disk. This registers them with pkg at every boot, in
# /${PKG_DIR}/ORDER (dependencies first), so that pkg info, pkg check and pkg upgrade know them.

. /etc/rc.subr

name="netboot_pkg"
rcvar="netboot_pkg_enable"
start_cmd="netboot_pkg_start"
stop_cmd=":"

load_rc_config $name
: \${netboot_pkg_enable:="YES"}
: \${netboot_pkg_dir:="/${PKG_DIR}"}
: \${netboot_pkg_bin:="/usr/local/sbin/pkg-static"}

netboot_pkg_start()
{
	local n failed
	if [ ! -x "$netboot_pkg_bin" ]; then
		warn "$netboot_pkg_bin is missing: the root's packages are not registered"
		return 1
	fi
	failed=0
	while read -r n; do
		[ -n "$n" ] || continue
		"$netboot_pkg_bin" info -e "$n" >/dev/null 2>&1 && continue
		if ! "$netboot_pkg_bin" register -M "$netboot_pkg_dir/$n.manifest" >/dev/null; then
			warn "pkg register $n failed"
			failed=1
		fi
	done < "$netboot_pkg_dir/ORDER"
	return $failed
}

run_rc_command "$1"
`;
}
