import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canSee, createSessionToken, verifySessionToken } from './auth.ts';

test('a token verifies with its secret only, and any change breaks it', () => {
  const { token, sessionId } = createSessionToken('secret-one-0123456789');
  assert.equal(verifySessionToken('secret-one-0123456789', token), sessionId);
  assert.equal(verifySessionToken('secret-two-0123456789', token), null);
  const [prefix, sid, mac] = token.split('.');
  const flipped = mac[0] === 'A' ? `B${mac.slice(1)}` : `A${mac.slice(1)}`;
  assert.equal(verifySessionToken('secret-one-0123456789', `${prefix}.${sid}.${flipped}`), null);
  const otherSid = sid[0] === 'A' ? `B${sid.slice(1)}` : `A${sid.slice(1)}`;
  assert.equal(verifySessionToken('secret-one-0123456789', `${prefix}.${otherSid}.${mac}`), null);
  assert.equal(verifySessionToken('secret-one-0123456789', 'garbage'), null);
  assert.equal(verifySessionToken('secret-one-0123456789', `${token}.extra`), null);
});

test('session ids are unique', () => {
  const ids = new Set(Array.from({ length: 1000 }, () => createSessionToken('s-0123456789abcdef').sessionId));
  assert.equal(ids.size, 1000);
});

test('who sees what: owner, admin, legacy', () => {
  assert.equal(canSee({ owner: 'a', isAdmin: false }, 'a'), true);
  assert.equal(canSee({ owner: 'a', isAdmin: false }, 'b'), false);
  assert.equal(canSee({ owner: 'a', isAdmin: false }, null), false);
  assert.equal(canSee({ owner: null, isAdmin: false }, null), true);
  assert.equal(canSee({ owner: null, isAdmin: false }, 'a'), false);
  assert.equal(canSee({ owner: 'admin', isAdmin: true }, 'a'), true);
});
