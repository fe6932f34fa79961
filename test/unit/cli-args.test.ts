import { describe, expect, it } from 'vitest';
import { splitCommand } from '../../cli/main.js';

describe('global options before the command', () => {
  it('--config F build: the command is build, and --config F goes with its arguments', () => {
    expect(splitCommand(['--config', 'F', 'build', 'h'])).toEqual({ name: 'build', args: ['--config', 'F', 'h'] });
  });
  it('the short and = forms, flags, and options after the command are kept', () => {
    expect(splitCommand(['-c', 'F', '--debug', 'build', '--all'])).toEqual({
      name: 'build',
      args: ['-c', 'F', '--debug', '--all'],
    });
    expect(splitCommand(['--config=F', 'ls'])).toEqual({ name: 'ls', args: ['--config=F'] });
    expect(splitCommand(['build', '--config', 'F'])).toEqual({ name: 'build', args: ['--config', 'F'] });
  });
  it('no command: only options', () => {
    expect(splitCommand(['--help'])).toEqual({ name: undefined, args: ['--help'] });
    expect(splitCommand([])).toEqual({ name: undefined, args: [] });
  });
});
