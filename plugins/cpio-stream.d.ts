declare module 'cpio-stream' {
  import type { Readable, Writable } from 'node:stream';

  interface Pack extends Readable {
    entry(header: Record<string, unknown>, cb: (err: Error | null) => void): Writable;
    finalize(): void;
  }
  const cpio: { pack(opts?: { format?: 'odc' | 'newc' }): Pack; extract(): Writable };
  export default cpio;
}
