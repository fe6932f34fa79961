import { closeSync, openSync, writeSync } from 'node:fs';

const TAIL = 20;

/** The step's log: a file in its scratch dir, plus the last lines kept for error reports. */
export class StepLog {
  private fd: number | undefined;
  readonly tail: string[] = [];
  private partial = '';
  constructor(readonly path: string) {
    this.fd = openSync(path, 'a');
  }
  write(text: string) {
    const lines = (this.partial + text).split('\n');
    this.partial = lines.pop() ?? '';
    for (const l of lines) {
      this.tail.push(l);
      if (this.tail.length > TAIL) this.tail.shift();
    }
    // Last: on a full disk this fails, and the tail for the report has the text already.
    if (this.fd !== undefined) writeSync(this.fd, text);
  }
  line(text: string) {
    this.write(text.endsWith('\n') ? text : `${text}\n`);
  }
  lastLines(): string[] {
    return this.partial ? [...this.tail.slice(-(TAIL - 1)), this.partial] : [...this.tail];
  }
  /** Once: a failure after the log was closed for ingesting closes it again. */
  close() {
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    closeSync(fd);
  }
}
