// The committed golden signing vectors, checked by the npm standardwebhooks
// package (the library the source document's Express receiver uses).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Webhook } from 'standardwebhooks';

const { vectors } = JSON.parse(readFileSync(new URL('../signing/testdata/hmac_vectors.json', import.meta.url)));

/** Verifies as of the vector's own timestamp (the library checks it against the clock). */
function verifyAt(secret, v, signature = v.signature, body = v.body) {
  const realNow = Date.now;
  Date.now = () => v.timestamp * 1000;
  try {
    return new Webhook(secret).verify(body, {
      'webhook-id': v.msg_id,
      'webhook-timestamp': String(v.timestamp),
      'webhook-signature': signature,
    });
  } finally {
    Date.now = realNow;
  }
}

test('there are golden vectors to check', () => {
  assert.ok(vectors.length >= 3);
});

for (const v of vectors) {
  test(`vector "${v.name}" verifies with every secret that signed it`, () => {
    for (const secret of v.secrets) verifyAt(secret, v);
  });
  test(`vector "${v.name}" fails when the body changes`, () => {
    for (const secret of v.secrets) {
      assert.throws(() => verifyAt(secret, v, v.signature, v.body + ' '));
    }
  });
}
