#!/usr/bin/env node
// Self-check of verify-bundle.mjs --key: builds key-signed DSSE bundles v0.3 in Node (Ed25519 and
// ECDSA P-256, node:crypto) and records exactly which bundle shapes @sigstore/verify accepts and
// rejects. Prints one line per check and "N passed, N failed"; exit 1 on any failure.
//   node key-bundle-check.mjs [--keep DIR]   (--keep writes the bundles and keys there)
import crypto from 'node:crypto';
import { mkdtempSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  BUNDLE_V03_MEDIA_TYPE, checker, dsseEnvelope, keyBundle, runVerify, spkiSha256Hex, statement,
} from './lib.mjs';

const keepIdx = process.argv.indexOf('--keep');
const dir = keepIdx > 0 ? process.argv[keepIdx + 1] : mkdtempSync(path.join(os.tmpdir(), 'key-bundle-'));
mkdirSync(dir, { recursive: true });
const { check, finish } = checker();
let n = 0;

function write(obj) {
  const f = path.join(dir, `bundle-${++n}.json`);
  writeFileSync(f, JSON.stringify(obj, null, 2));
  return f;
}
function writeKey(name, pub) {
  const f = path.join(dir, `${name}.pub.pem`);
  writeFileSync(f, pub.export({ format: 'pem', type: 'spki' }));
  return f;
}
function verify(bundle, keyFile, extra = []) {
  return runVerify(['--bundle', write(bundle), '--key', keyFile, ...extra]);
}
const clone = (o) => JSON.parse(JSON.stringify(o));

const st = statement([{ name: 'hello.txt', content: 'hello\n' }]);
const helloDigest = crypto.createHash('sha256').update('hello\n').digest('hex');

for (const [label, kp] of [
  ['ed25519', crypto.generateKeyPairSync('ed25519')],
  ['p256', crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' })],
]) {
  const keyFile = writeKey(label, kp.publicKey);
  const hint = spkiSha256Hex(kp.publicKey);
  const env = dsseEnvelope(kp.privateKey, st, { keyid: hint });
  const good = keyBundle(env, hint);

  let r = verify(good, keyFile, ['--artifact-digest', `sha256:${helloDigest}`]);
  check(`${label}: key-signed DSSE bundle v0.3 with tlogEntries [] verifies`, r.status === 0 && r.result.ok, r.result);

  r = verify(good, keyFile, ['--artifact-digest', `sha256:${'0'.repeat(64)}`]);
  check(`${label}: wrong --artifact-digest fails`, r.status === 1 && /no subject/.test(r.result.error), r.result);

  const tampered = clone(good);
  const other = { ...st, subject: [{ name: 'evil', digest: { sha256: '1'.repeat(64) } }] };
  tampered.dsseEnvelope.payload = Buffer.from(JSON.stringify(other)).toString('base64');
  r = verify(tampered, keyFile);
  check(`${label}: tampered payload fails`, r.status === 1 && /SIGNATURE_ERROR/.test(r.result.error), r.result);

  const typeChanged = clone(good);
  typeChanged.dsseEnvelope.payloadType = 'application/json';
  r = verify(typeChanged, keyFile);
  check(`${label}: changed payloadType fails (PAE covers it)`, r.status === 1 && /SIGNATURE_ERROR/.test(r.result.error), r.result);

  const otherKey = label === 'ed25519'
    ? crypto.generateKeyPairSync('ed25519')
    : crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  r = verify(good, writeKey(`${label}-other`, otherKey.publicKey));
  check(`${label}: another key of the same type fails`, r.status === 1 && /SIGNATURE_ERROR/.test(r.result.error), r.result);

  const noTlog = clone(good);
  delete noTlog.verificationMaterial.tlogEntries;
  r = verify(noTlog, keyFile);
  check(`${label}: tlogEntries omitted altogether is accepted`, r.status === 0, r.result);

  for (const [desc, keyid] of [['empty keyid ""', ''], ['keyid absent', undefined], ['keyid != hint', 'some-other-id']]) {
    const b = keyBundle(dsseEnvelope(kp.privateKey, st, { keyid }), hint);
    r = verify(b, keyFile);
    check(`${label}: ${desc} is accepted by @sigstore/verify (keyid not checked)`, r.status === 0, r.result);
    if (desc === 'keyid != hint') {
      r = verify(b, keyFile, ['--require-keyid-hint-match']);
      check(`${label}: ${desc} fails with --require-keyid-hint-match`, r.status === 1, r.result);
    }
  }

  const anyHint = keyBundle(env, 'any-string-at-all');
  r = verify(anyHint, keyFile);
  check(`${label}: the hint is only a lookup key (any string works when the key is registered under it)`, r.status === 0, r.result);

  const emptyHint = clone(good);
  emptyHint.verificationMaterial.publicKey = {};
  r = verify(emptyHint, keyFile);
  check(`${label}: publicKey {} (hint "") still verifies`, r.status === 0, r.result);

  const twoSigs = clone(good);
  twoSigs.dsseEnvelope.signatures.push(clone(twoSigs.dsseEnvelope.signatures[0]));
  r = verify(twoSigs, keyFile);
  check(`${label}: two DSSE signatures are rejected`, r.status === 1 && /content\.dsseEnvelope\.signatures/.test(r.result.error), r.result);

  const noSigs = clone(good);
  noSigs.dsseEnvelope.signatures = [];
  r = verify(noSigs, keyFile);
  check(`${label}: zero DSSE signatures are rejected`, r.status === 1 && /content\.dsseEnvelope\.signatures/.test(r.result.error), r.result);

  const noMaterial = clone(good);
  delete noMaterial.verificationMaterial.publicKey;
  r = verify(noMaterial, keyFile);
  check(`${label}: missing verificationMaterial.publicKey is rejected`, r.status === 1 && /verificationMaterial\.content/.test(r.result.error), r.result);

  const badMedia = clone(good);
  badMedia.mediaType = 'application/json';
  r = verify(badMedia, keyFile);
  check(`${label}: wrong mediaType is rejected`, r.status === 1 && /mediaType/.test(r.result.error), r.result);

  for (const mt of [
    'application/vnd.dev.sigstore.bundle+json;version=0.1',
    'application/vnd.dev.sigstore.bundle+json;version=0.2',
    'application/vnd.dev.sigstore.bundle+json;version=0.3',
  ]) {
    const b = clone(good);
    b.mediaType = mt;
    r = verify(b, keyFile);
    check(`${label}: legacy mediaType ${mt} is accepted`, r.status === 0, r.result);
  }

  const urlSafe = clone(good);
  urlSafe.dsseEnvelope.signatures[0].sig = urlSafe.dsseEnvelope.signatures[0].sig.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  urlSafe.dsseEnvelope.payload = urlSafe.dsseEnvelope.payload.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  r = verify(urlSafe, keyFile);
  check(`${label}: URL-safe unpadded base64 in payload/sig is accepted (Node Buffer decoding)`, r.status === 0, r.result);

  if (label === 'p256') {
    // Raw r||s (IEEE P1363) instead of DER: what the DSSE spec vector uses, but not Sigstore.
    const raw = clone(good);
    const der = Buffer.from(good.dsseEnvelope.signatures[0].sig, 'base64');
    const rs = derToP1363(der);
    raw.dsseEnvelope.signatures[0].sig = rs.toString('base64');
    r = verify(raw, keyFile);
    check('p256: raw r||s ECDSA signature is rejected (Sigstore needs ASN.1 DER)', r.status === 1 && /SIGNATURE_ERROR/.test(r.result.error), r.result);
  }

  r = runVerify(['--bundle', write(good)]);
  check(`${label}: no --key and no --trusted-root is a usage error`, r.status === 2, r.result);
}

// The DSSE spec's P-256 test vector has a raw r||s signature; convert DER -> r||s for the check.
function derToP1363(der) {
  let i = 2;
  const rLen = der[i + 1];
  let rB = der.subarray(i + 2, i + 2 + rLen);
  i = i + 2 + rLen;
  const sLen = der[i + 1];
  let sB = der.subarray(i + 2, i + 2 + sLen);
  const fix = (b) => {
    while (b.length > 32 && b[0] === 0) b = b.subarray(1);
    return Buffer.concat([Buffer.alloc(32 - b.length), b]);
  };
  return Buffer.concat([fix(rB), fix(sB)]);
}

const ok = finish();
if (keepIdx < 0) rmSync(dir, { recursive: true, force: true });
process.exit(ok ? 0 : 1);
