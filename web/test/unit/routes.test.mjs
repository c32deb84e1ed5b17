// The hash routes (src/routes.js) without a browser: parseRoute reads `location.hash`, so each
// case sets a stand-in `location` with that hash.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRoute, termHash } from '../../src/routes.js';

function route(hash) {
  globalThis.location = { hash };
  return parseRoute();
}

test('the list is the route of an empty hash, #/ and anything unknown', () => {
  for (const hash of ['', '#', '#/', '#/s/', '#/s', '#/sessions', '#/s/abc/def', '#s/abc']) {
    assert.deepEqual(route(hash), { view: 'list' }, hash);
  }
});

test('#/s/ID is the terminal of ID, read-write', () => {
  assert.deepEqual(route('#/s/AbC-12_xyz'), { view: 'term', id: 'AbC-12_xyz', ro: false });
  assert.deepEqual(route('#/s/AbC-12_xyz/'), { view: 'term', id: 'AbC-12_xyz', ro: false });
});

test('?ro=1 (or ro=true) makes it read-only; other values do not', () => {
  assert.equal(route('#/s/abc?ro=1').ro, true);
  assert.equal(route('#/s/abc?ro=true').ro, true);
  assert.equal(route('#/s/abc/?ro=1').ro, true);
  assert.equal(route('#/s/abc?x=2&ro=1').ro, true);
  for (const q of ['?ro=0', '?ro=', '?ro=yes', '?other=1', '?']) {
    assert.deepEqual(route(`#/s/abc${q}`), { view: 'term', id: 'abc', ro: false }, q);
  }
});

test('the id is percent-decoded; a malformed escape keeps it as written', () => {
  assert.equal(route('#/s/a%20b').id, 'a b');
  assert.equal(route('#/s/%E2%82%AC').id, '€');
  assert.equal(route('#/s/50%').id, '50%');
  assert.equal(route('#/s/%E0%A4%A').id, '%E0%A4%A');
});

test('termHash builds what parseRoute reads back', () => {
  assert.equal(termHash('abc'), '#/s/abc');
  assert.equal(termHash('abc', true), '#/s/abc?ro=1');
  assert.equal(termHash('a b/c?', false), '#/s/a%20b%2Fc%3F');
  for (const id of ['AAAAAAAAAAAAAAAAA', 'a b/c?', '€uro', '50%']) {
    for (const ro of [false, true]) {
      assert.deepEqual(route(termHash(id, ro)), { view: 'term', id, ro }, `${id} ${ro}`);
    }
  }
});
