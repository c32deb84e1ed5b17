// Texts for people (src/format.js) without a browser: byte counts, ages, statuses, exit texts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { exitText, fmtAgo, fmtBytes, parseTime, statusText } from '../../src/format.js';

test('byte counts: bytes below 1 KiB, one decimal below 10 units, binary units up to TiB', () => {
  const cases = [
    [0, '0 B'],
    [1, '1 B'],
    [1023, '1023 B'],
    [1024, '1.0 KiB'],
    [1536, '1.5 KiB'],
    [10 * 1024 - 1, '10.0 KiB'],
    [10 * 1024, '10 KiB'],
    [1023 * 1024, '1023 KiB'],
    [1024 ** 2, '1.0 MiB'],
    [3.25 * 1024 ** 3, '3.3 GiB'],
    [1024 ** 4, '1.0 TiB'],
    [1024 ** 5, '1024 TiB'],
  ];
  for (const [n, text] of cases) assert.equal(fmtBytes(n), text, String(n));
});

test('a byte count that is no number shows nothing', () => {
  for (const n of [NaN, Infinity, undefined, null, '12']) assert.equal(fmtBytes(n), '', String(n));
});

test('ages: just now, seconds, minutes, hours up to two days, then days', () => {
  const s = 1000;
  const cases = [
    [-5 * s, 'just now'],
    [0, 'just now'],
    [9.4 * s, 'just now'],
    [10 * s, '10 s ago'],
    [59 * s, '59 s ago'],
    [60 * s, '1 min ago'],
    [59 * 60 * s, '59 min ago'],
    [60 * 60 * s, '1 h ago'],
    [47 * 3600 * s, '47 h ago'],
    [48 * 3600 * s, '2 d ago'],
    [30 * 86400 * s, '30 d ago'],
  ];
  for (const [ms, text] of cases) assert.equal(fmtAgo(ms), text, String(ms));
});

test('times are the API\'s RFC 3339 strings; none is NaN', () => {
  assert.equal(parseTime('2026-01-02T03:04:05Z'), Date.UTC(2026, 0, 2, 3, 4, 5));
  assert.ok(Number.isNaN(parseTime(null)));
  assert.ok(Number.isNaN(parseTime('')));
});

test('the list\'s status: running, the exit code, the signal, or the bare status', () => {
  assert.equal(statusText({ status: 'running', exit_code: null, exit_signal: null }), 'running');
  assert.equal(statusText({ status: 'completed', exit_code: 0, exit_signal: null }), 'completed (0)');
  assert.equal(statusText({ status: 'failed', exit_code: 3, exit_signal: null }), 'failed (3)');
  assert.equal(statusText({ status: 'stopped', exit_code: null, exit_signal: 'TERM' }), 'stopped (signal TERM)');
  assert.equal(statusText({ status: 'lost', exit_code: null, exit_signal: null }), 'lost');
});

test('the terminal\'s exit text: the signal first, then the code, then how it was lost', () => {
  assert.equal(exitText({ status: 'failed', exit_code: null, exit_signal: 'KILL' }), 'ended by signal KILL');
  assert.equal(exitText({ status: 'stopped', exit_code: null, exit_signal: 'HUP' }), 'ended by signal HUP');
  assert.equal(exitText({ status: 'failed', exit_code: 3, exit_signal: null }), 'exited with code 3');
  assert.equal(exitText({ status: 'completed', exit_code: 0, exit_signal: null }), 'exited with code 0');
  assert.equal(exitText({ status: 'lost', exit_code: null, exit_signal: null }), 'lost (the service restarted)');
  assert.equal(exitText({ status: 'stopped', exit_code: null, exit_signal: null }), 'ended (stopped)');
  assert.equal(exitText(null), 'ended');
  assert.equal(exitText(undefined), 'ended');
});
