// The errno a file-system call may be expected to fail with, told apart from every other failure.
// A catch names the errno it handles and rethrows the rest: nothing unexpected is swallowed.

export function errnoOf(e: unknown): string | undefined {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

export function isErrno(e: unknown, ...wanted: string[]): boolean {
  const code = errnoOf(e);
  return code !== undefined && wanted.includes(code);
}

/** The path is not there (ENOTDIR: a component on the way is not a directory). */
export function isMissing(e: unknown): boolean {
  return isErrno(e, 'ENOENT', 'ENOTDIR');
}

/** For `.catch`: a missing path gives `value`; any other failure is thrown on. */
export function ifMissing<T>(value: T): (e: unknown) => T {
  return (e) => {
    if (isMissing(e)) return value;
    throw e;
  };
}
