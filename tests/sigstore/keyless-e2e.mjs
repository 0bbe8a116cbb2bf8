#!/usr/bin/env node
// End-to-end proof, in pure Node, that the mock Sigstore stack works for keyless DSSE signing:
// token -> ephemeral P-256 key -> Fulcio certificate -> DSSE envelope -> Rekor entry (dsse 0.0.1
// or intoto 0.0.2) [-> TSA timestamp] -> bundle v0.3 -> verify-bundle.mjs (@sigstore/verify) with
// the mock's trusted root. Then every failure mode, each of which must fail with a clear reason.
//
//   node keyless-e2e.mjs [--state DIR] [--keep DIR]
//     --state DIR  use the mock already serving with that state directory (DIR/ready.json);
//                  without it, mock-sigstore.mjs is started here and stopped at the end
//     --keep DIR   write the bundles, certificates and keys of every case there
// Prints one line per check and "N passed, N failed"; exit 1 on any failure.
import crypto from 'node:crypto';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  checker, dsseEnvelope, here, keyBundle, keylessBundle, pae, pemToDer, runVerify, spkiSha256Hex,
  statement, tlogEntryFromRekor,
} from './lib.mjs';

const argv = process.argv.slice(2);
const opt = (name) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const keep = opt('--keep');
const work = keep || mkdtempSync(path.join(os.tmpdir(), 'keyless-e2e-'));
mkdirSync(work, { recursive: true });
const { check, finish } = checker();

// ---------------------------------------------------------------------------------------------
// the mock

let child;
async function startMock() {
  const existing = opt('--state');
  if (existing) return JSON.parse(readFileSync(path.join(existing, 'ready.json'), 'utf8'));
  const state = path.join(work, 'mock-state');
  rmSync(path.join(state, 'ready.json'), { force: true });
  child = spawn(process.execPath, [path.join(here, 'mock-sigstore.mjs'), '--port', '0', '--out', state, '--lifetime', '600'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  for (let i = 0; i < 200; i++) {
    if (existsSync(path.join(state, 'ready.json'))) return JSON.parse(readFileSync(path.join(state, 'ready.json'), 'utf8'));
    if (child.exitCode !== null) throw new Error(`mock-sigstore exited with ${child.exitCode}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('mock-sigstore did not become ready in 20 s');
}

async function post(url, body, { raw = false } = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(15000),
  });
  const buf = Buffer.from(await res.arrayBuffer());
  let json;
  if (!raw) {
    try {
      json = JSON.parse(buf.toString('utf8'));
    } catch {
      json = undefined;
    }
  }
  return { status: res.status, json, buf, headers: res.headers };
}

// ---------------------------------------------------------------------------------------------
// the client side: what codex-attest --keyless has to do

async function getToken(ready, claims) {
  const r = await post(ready.tokenURL, claims);
  if (r.status !== 200) throw new Error(`token: ${r.status} ${r.buf}`);
  return r.json.id_token;
}

function jwtClaims(token) {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'));
}

async function getCertificate(fulcioBase, token, key, { pop } = {}) {
  const claims = jwtClaims(token);
  const challenge = Buffer.from(claims.email || claims.sub, 'utf8');
  const proof = pop ?? crypto.sign('sha256', challenge, key.privateKey).toString('base64');
  const r = await post(`${fulcioBase}/api/v2/signingCert`, {
    credentials: { oidcIdentityToken: token },
    publicKeyRequest: {
      publicKey: { algorithm: 'ECDSA', content: key.publicKey.export({ format: 'pem', type: 'spki' }) },
      proofOfPossession: proof,
    },
  });
  return r;
}

function dsseProposed(envelope, verifierPem) {
  return {
    apiVersion: '0.0.1',
    kind: 'dsse',
    spec: {
      proposedContent: {
        envelope: JSON.stringify(envelope),
        verifiers: [Buffer.from(verifierPem, 'utf8').toString('base64')],
      },
    },
  };
}

function intotoProposed(envelope, verifierPem) {
  const sigB64 = envelope.signatures[0].sig;
  const keyid = envelope.signatures[0].keyid;
  // Envelope hash as sigstore-js computes it: JCS of {payloadType, payload, signatures:[{sig, publicKey(PEM), keyid?}]}.
  const forHash = { payloadType: envelope.payloadType, payload: envelope.payload, signatures: [{ sig: sigB64, publicKey: verifierPem }] };
  if (keyid) forHash.signatures[0].keyid = keyid;
  const s = { sig: Buffer.from(sigB64).toString('base64'), publicKey: Buffer.from(verifierPem).toString('base64') };
  if (keyid) s.keyid = keyid;
  return {
    apiVersion: '0.0.2',
    kind: 'intoto',
    spec: {
      content: {
        envelope: { payloadType: envelope.payloadType, payload: Buffer.from(envelope.payload).toString('base64'), signatures: [s] },
        hash: { algorithm: 'sha256', value: crypto.createHash('sha256').update(jcs(forHash)).digest('hex') },
        payloadHash: { algorithm: 'sha256', value: crypto.createHash('sha256').update(Buffer.from(envelope.payload, 'base64')).digest('hex') },
      },
    },
  };
}

function jcs(v) {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(jcs).join(',')}]`;
  return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${jcs(v[k])}`).join(',')}}`;
}

async function timestamp(ready, sigB64) {
  const r = await post(ready.tsaURL, {
    artifactHash: crypto.createHash('sha256').update(Buffer.from(sigB64, 'base64')).digest('base64'),
    hashAlgorithm: 'sha256',
    certificates: false,
  }, { raw: true });
  if (r.status !== 201) throw new Error(`tsa: ${r.status} ${r.buf}`);
  return r.buf;
}

// Runs the whole keyless flow; returns everything the checks need.
async function signKeyless(ready, {
  subject = 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main',
  issuer = 'https://token.actions.githubusercontent.com',
  email,
  fulcio = ready.fulcioURL,
  rekor = ready.rekorURL,
  kind = 'dsse',
  tsa = false,
  name,
}) {
  const token = await getToken(ready, { subject, issuer, email });
  const key = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const cr = await getCertificate(fulcio, token, key);
  if (cr.status !== 201) throw new Error(`fulcio: ${cr.status} ${cr.buf}`);
  const chain = cr.json.signedCertificateEmbeddedSct.chain.certificates;
  const leafPem = chain[0];
  const leafDer = pemToDer(leafPem);
  const st = statement([{ name: `${name}.txt`, content: `artifact of ${name}\n` }]);
  const env = dsseEnvelope(key.privateKey, st); // no keyid, as Sigstore clients write it
  const proposed = kind === 'dsse' ? dsseProposed(env, leafPem) : intotoProposed(env, leafPem);
  const rr = await post(`${rekor}/api/v1/log/entries`, proposed);
  if (rr.status !== 201) throw new Error(`rekor: ${rr.status} ${rr.buf}`);
  const { uuid, entry } = tlogEntryFromRekor(rr.json);
  const ts = tsa ? [await timestamp(ready, env.signatures[0].sig)] : [];
  const bundle = keylessBundle(env, leafDer, [entry], ts);
  const dir = path.join(work, name);
  mkdirSync(dir, { recursive: true });
  const bundleFile = path.join(dir, 'bundle.json');
  writeFileSync(bundleFile, JSON.stringify(bundle, null, 2));
  writeFileSync(path.join(dir, 'leaf.pem'), leafPem);
  writeFileSync(path.join(dir, 'rekor-response.json'), JSON.stringify(rr.json, null, 2));
  writeFileSync(path.join(dir, 'rekor-request.json'), JSON.stringify(proposed, null, 2));
  writeFileSync(path.join(dir, 'token.jwt'), token);
  return { token, key, chain, leafPem, leafDer, env, st, bundle, bundleFile, uuid, rekorResponse: rr, subject, issuer, email, dir };
}

function verifyKeyless(bundleFile, ready, identity, issuer, extra = []) {
  return runVerify(['--bundle', bundleFile, '--trusted-root', ready.trustedRoot, '--identity', identity, '--issuer', issuer, ...extra]);
}

function writeVariant(base, name, mutate) {
  const b = JSON.parse(JSON.stringify(base.bundle));
  mutate(b);
  const f = path.join(base.dir, `${name}.json`);
  writeFileSync(f, JSON.stringify(b, null, 2));
  return f;
}

// ---------------------------------------------------------------------------------------------
// the checks

async function main() {
  const ready = await startMock();
  console.log(`# mock at ${ready.url} (@sigstore/mock ${ready.versions['@sigstore/mock']}, ${ready.versions.node})`);

  // 1. Happy path, dsse 0.0.1 entry.
  const a = await signKeyless(ready, { name: 'dsse-happy' });
  let r = verifyKeyless(a.bundleFile, ready, a.subject, a.issuer, ['--artifact-digest', `sha256:${a.st.subject[0].digest.sha256}`]);
  check('keyless DSSE + dsse 0.0.1 Rekor entry verifies with @sigstore/verify', r.status === 0 && r.result.ok && r.result.identity === a.subject && r.result.issuer === a.issuer, r.result);

  // The canonical dsse body the wrapper produced.
  const body = JSON.parse(Buffer.from(a.bundle.verificationMaterial.tlogEntries[0].canonicalizedBody, 'base64').toString('utf8'));
  const sigB64 = a.env.signatures[0].sig;
  check('canonical dsse body: kind/apiVersion/spec keys', body.kind === 'dsse' && body.apiVersion === '0.0.1' && jcs(Object.keys(body.spec).sort()) === '["envelopeHash","payloadHash","signatures"]', body);
  check('canonical dsse body: payloadHash = sha256(payload bytes)', body.spec.payloadHash.value === crypto.createHash('sha256').update(Buffer.from(a.env.payload, 'base64')).digest('hex'));
  check('canonical dsse body: envelopeHash = sha256(envelope string as submitted)', body.spec.envelopeHash.value === crypto.createHash('sha256').update(JSON.stringify(a.env)).digest('hex'));
  check('canonical dsse body: signatures[0].signature = envelope sig string', body.spec.signatures[0].signature === sigB64);
  const verifierPem = Buffer.from(body.spec.signatures[0].verifier, 'base64').toString('utf8');
  check('canonical dsse body: verifier = base64(PEM of the leaf certificate, 64-col)', pemToDer(verifierPem).equals(a.leafDer) && /^-----BEGIN CERTIFICATE-----\n/.test(verifierPem), verifierPem);
  const bodyBytes = Buffer.from(a.bundle.verificationMaterial.tlogEntries[0].canonicalizedBody, 'base64');
  check('canonicalizedBody bytes are JCS (sorted keys, no whitespace)', bodyBytes.toString('utf8') === jcs(body));

  // Independent re-check of the SET, inclusion proof and checkpoint, as a Rust verifier must do.
  const root = JSON.parse(readFileSync(ready.trustedRoot, 'utf8'));
  const logKey = crypto.createPublicKey({ key: Buffer.from(root.tlogs[0].publicKey.rawBytes, 'base64'), format: 'der', type: 'spki' });
  const te = a.bundle.verificationMaterial.tlogEntries[0];
  const setPayload = jcs({ body: te.canonicalizedBody, integratedTime: Number(te.integratedTime), logIndex: Number(te.logIndex), logID: Buffer.from(te.logId.keyId, 'base64').toString('hex') });
  check('SET = ECDSA-P256-SHA256(DER) over JCS {body,integratedTime,logID,logIndex}', crypto.verify('sha256', Buffer.from(setPayload), logKey, Buffer.from(te.inclusionPromise.signedEntryTimestamp, 'base64')));
  const leafHash = crypto.createHash('sha256').update(Buffer.concat([Buffer.from([0]), bodyBytes])).digest();
  check('inclusion proof: tree of 1, root hash = sha256(0x00 || canonicalizedBody)', leafHash.equals(Buffer.from(te.inclusionProof.rootHash, 'base64')) && te.inclusionProof.treeSize === '1' && te.inclusionProof.hashes.length === 0);
  const cp = te.inclusionProof.checkpoint.envelope;
  const sep = cp.indexOf('\n\n');
  const note = cp.slice(0, sep + 1);
  const sigLine = /^\u2014 (\S+) (\S+)$/m.exec(cp.slice(sep + 2));
  const sigBytes = Buffer.from(sigLine[2], 'base64');
  const noteLines = note.split('\n');
  check('checkpoint: note = origin\\nsize\\nb64(root)\\nTimestamp: ns\\n, signer line "\u2014 <host> b64(keyhint4||DER sig)"',
    sigLine[1] === new URL(ready.url).host && noteLines[1] === '1' && noteLines[2] === te.inclusionProof.rootHash &&
      sigBytes.subarray(0, 4).equals(Buffer.from(te.logId.keyId, 'base64').subarray(0, 4)) &&
      crypto.verify('sha256', Buffer.from(note), logKey, sigBytes.subarray(4)), cp);
  check('logId.keyId = sha256(log SPKI DER)', Buffer.from(te.logId.keyId, 'base64').toString('hex') === ready.rekorLogId);
  check('tlog logIndex and inclusionProof.logIndex differ (mock: random vs 0); do not require equality', te.logIndex !== te.inclusionProof.logIndex || te.logIndex === '0');

  // Rekor GET returns the same entry.
  const g = await fetch(`${ready.rekorURL}/api/v1/log/entries/${a.uuid}`);
  check('GET /api/v1/log/entries/{uuid} returns the logged entry', g.status === 200 && jcs(await g.json()) === jcs(a.rekorResponse.json));
  check('POST /api/v1/log/entries answered 201 with a Location header', a.rekorResponse.status === 201 && a.rekorResponse.headers.get('location') === `/api/v1/log/entries/${a.uuid}`);

  // Fulcio response shape.
  check('Fulcio: signedCertificateEmbeddedSct.chain.certificates = [leaf PEM, root PEM], root = trusted root CA',
    a.chain.length === 2 && pemToDer(a.chain[1]).equals(Buffer.from(root.certificateAuthorities[0].certChain.certificates[0].rawBytes, 'base64')));
  const leaf = new crypto.X509Certificate(a.leafDer);
  check('Fulcio leaf: SAN is a URI with the token subject, 10 minute validity',
    leaf.subjectAltName === `URI:${a.subject}` && Date.parse(leaf.validTo) - Date.parse(leaf.validFrom) === 600000, { san: leaf.subjectAltName, from: leaf.validFrom, to: leaf.validTo });

  // 2. intoto 0.0.2 entry.
  const b = await signKeyless(ready, { name: 'intoto-happy', kind: 'intoto' });
  r = verifyKeyless(b.bundleFile, ready, b.subject, b.issuer);
  check('keyless DSSE + intoto 0.0.2 Rekor entry verifies', r.status === 0 && r.result.ok, r.result);

  // 3. Email identity.
  const c = await signKeyless(ready, { name: 'email-happy', subject: 'user-123', email: 'dev@example.com', issuer: 'https://accounts.example.com' });
  r = verifyKeyless(c.bundleFile, ready, 'dev@example.com', 'https://accounts.example.com');
  check('email token: SAN = email claim (as URI SAN), proof of possession over the email; verifies', r.status === 0 && r.result.identity === 'dev@example.com', r.result);

  // 4. With an RFC 3161 timestamp too.
  const d = await signKeyless(ready, { name: 'tsa-happy', tsa: true });
  r = verifyKeyless(d.bundleFile, ready, d.subject, d.issuer);
  check('bundle with tlog entry + RFC 3161 timestamp verifies (2 timestamps)', r.status === 0 && r.result.timestamps?.length === 2, r.result);
  const noSetTsa = writeVariant(d, 'no-set-with-tsa', (x) => delete x.verificationMaterial.tlogEntries[0].inclusionPromise);
  r = verifyKeyless(noSetTsa, ready, d.subject, d.issuer);
  check('no SET but a TSA timestamp: verifies (inclusion proof + checkpoint suffice for the log)', r.status === 0, r.result);
  const tsaTampered = writeVariant(d, 'tsa-other-sig', (x) => {
    x.verificationMaterial.timestampVerificationData.rfc3161Timestamps[0].signedTimestamp =
      a.bundle.verificationMaterial.timestampVerificationData?.rfc3161Timestamps?.[0]?.signedTimestamp || Buffer.from('not a timestamp').toString('base64');
  });
  r = verifyKeyless(tsaTampered, ready, d.subject, d.issuer);
  check('garbage RFC 3161 timestamp fails', r.status === 1, r.result);

  // 5. Failure modes.
  r = verifyKeyless(a.bundleFile, ready, 'https://github.com/evil/app/.github/workflows/release.yml@refs/heads/main', a.issuer);
  check('wrong identity fails: UNTRUSTED_SIGNER_ERROR certificate identity error', r.status === 1 && /UNTRUSTED_SIGNER_ERROR: certificate identity error/.test(r.result.error), r.result);
  console.log(`#   ${r.result.error}`);

  r = verifyKeyless(a.bundleFile, ready, a.subject, 'https://accounts.google.com');
  check('wrong issuer fails: invalid certificate extension issuer', r.status === 1 && /expected issuer=https:\/\/accounts.google.com, got issuer=https:\/\/token.actions.githubusercontent.com/.test(r.result.error), r.result);
  console.log(`#   ${r.result.error}`);

  r = verifyKeyless(a.bundleFile, ready, a.subject.slice(0, -5), a.issuer);
  check('identity is matched exactly (a prefix of the SAN fails)', r.status === 1, r.result);

  const e = await signKeyless(ready, { name: 'expired', fulcio: ready.variants.expiredFulcioURL });
  const el = new crypto.X509Certificate(e.leafDer);
  check('expired Fulcio variant issues a certificate whose notAfter is before now', Date.parse(el.validTo) < Date.now(), el.validTo);
  r = verifyKeyless(e.bundleFile, ready, e.subject, e.issuer);
  check('expired certificate fails: not valid at the log integrated time', r.status === 1 && /certificate is not valid or expired at the specified date/.test(r.result.error), r.result);
  console.log(`#   ${r.result.error}`);

  r = runVerify(['--bundle', a.bundleFile, '--trusted-root', ready.trustedRootCaClosed, '--identity', a.subject, '--issuer', a.issuer]);
  check('trusted root whose CA validFor ended before the signing time fails', r.status === 1 && /CERTIFICATE_ERROR: Failed to verify certificate chain/.test(r.result.error), r.result);
  console.log(`#   ${r.result.error}`);

  const missing = writeVariant(a, 'no-tlog-entry', (x) => {
    x.verificationMaterial.tlogEntries = [];
  });
  r = verifyKeyless(missing, ready, a.subject, a.issuer);
  check('missing log entry fails: missing transparency log entry', r.status === 1 && /missing transparency log entry/.test(r.result.error), r.result);
  console.log(`#   ${r.result.error}`);
  r = verifyKeyless(missing, ready, a.subject, a.issuer, ['--require-tlog', '0']);
  check('missing log entry, even with --require-tlog 0, fails in @sigstore/verify (no verified timestamp)', r.status === 1 && /TIMESTAMP_ERROR: expected 1 timestamps, got 0/.test(r.result.error), r.result);
  console.log(`#   ${r.result.error}`);

  const f = await signKeyless(ready, { name: 'rogue-log', rekor: ready.variants.rogueRekorURL });
  r = verifyKeyless(f.bundleFile, ready, f.subject, f.issuer);
  check('entry from a log not in the trusted root fails: inclusion promise could not be verified', r.status === 1 && /TLOG_INCLUSION_PROMISE_ERROR/.test(r.result.error), r.result);
  console.log(`#   ${r.result.error}`);

  const h = await signKeyless(ready, { name: 'untrusted-ca', fulcio: ready.variants.untrustedFulcioURL });
  r = verifyKeyless(h.bundleFile, ready, h.subject, h.issuer);
  check('certificate from a CA not in the trusted root fails', r.status === 1 && /CERTIFICATE_ERROR: Failed to verify certificate chain/.test(r.result.error), r.result);
  console.log(`#   ${r.result.error}`);

  const tampered = writeVariant(a, 'tampered-payload', (x) => {
    const other = { ...a.st, subject: [{ name: 'evil', digest: { sha256: '1'.repeat(64) } }] };
    x.dsseEnvelope.payload = Buffer.from(JSON.stringify(other)).toString('base64');
  });
  r = verifyKeyless(tampered, ready, a.subject, a.issuer);
  check('tampered payload fails (tlog body: DSSE payload hash mismatch)', r.status === 1 && /TLOG_BODY_ERROR: DSSE payload hash mismatch/.test(r.result.error), r.result);

  const swapped = writeVariant(a, 'other-envelope-same-log-entry', (x) => {
    x.dsseEnvelope = b.bundle.dsseEnvelope;
  });
  r = verifyKeyless(swapped, ready, a.subject, a.issuer);
  check('another envelope with this log entry fails (tlog entry signature mismatch)', r.status === 1 && /TLOG_BODY_ERROR/.test(r.result.error), r.result);

  const bodyTampered = writeVariant(a, 'tampered-body', (x) => {
    const bb = JSON.parse(Buffer.from(x.verificationMaterial.tlogEntries[0].canonicalizedBody, 'base64').toString('utf8'));
    bb.spec.envelopeHash.value = '0'.repeat(64);
    x.verificationMaterial.tlogEntries[0].canonicalizedBody = Buffer.from(jcs(bb)).toString('base64');
  });
  r = verifyKeyless(bodyTampered, ready, a.subject, a.issuer);
  check('tampered canonicalizedBody fails (SET)', r.status === 1 && /TLOG_INCLUSION_PROMISE_ERROR/.test(r.result.error), r.result);

  const setOnly = writeVariant(a, 'no-inclusion-proof', (x) => delete x.verificationMaterial.tlogEntries[0].inclusionProof);
  r = verifyKeyless(setOnly, ready, a.subject, a.issuer);
  check('v0.3 bundle without inclusionProof is rejected as invalid', r.status === 1 && /inclusionProof/.test(r.result.error), r.result);

  const noSet = writeVariant(a, 'no-set', (x) => delete x.verificationMaterial.tlogEntries[0].inclusionPromise);
  r = verifyKeyless(noSet, ready, a.subject, a.issuer);
  check('no SET and no TSA fails: the integrated time is only trusted with a SET', r.status === 1 && /TIMESTAMP_ERROR/.test(r.result.error), r.result);

  const badProof = writeVariant(a, 'bad-checkpoint', (x) => {
    const p = x.verificationMaterial.tlogEntries[0].inclusionProof;
    p.checkpoint.envelope = p.checkpoint.envelope.replace(/\n1\n/, '\n2\n');
  });
  r = verifyKeyless(badProof, ready, a.subject, a.issuer);
  check('edited checkpoint fails (invalid checkpoint signature)', r.status === 1 && /TLOG_INCLUSION_PROOF_ERROR: invalid checkpoint signature/.test(r.result.error), r.result);

  // 6. The services refuse bad requests, with a reason.
  const token = await getToken(ready, { subject: 'x', issuer: 'https://issuer.example' });
  const k = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  let s = await getCertificate(ready.fulcioURL, token, k, { pop: crypto.sign('sha256', Buffer.from('not-the-subject'), k.privateKey).toString('base64') });
  check('Fulcio rejects a proof of possession over the wrong challenge (400)', s.status === 400 && /proof of possession/.test(s.json?.message), s.json);
  const forged = (() => {
    const other = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const [h1, p1] = token.split('.');
    return `${h1}.${p1}.${crypto.sign('sha256', Buffer.from(`${h1}.${p1}`), { key: other.privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
  })();
  s = await getCertificate(ready.fulcioURL, forged, k);
  check('Fulcio rejects a token not signed by the mock issuer (401)', s.status === 401 && /signature does not verify/.test(s.json?.message), s.json);
  const expiredToken = await getToken(ready, { subject: 'x', issuer: 'https://issuer.example', expiresIn: -10 });
  s = await getCertificate(ready.fulcioURL, expiredToken, k);
  check('Fulcio rejects an expired token (401)', s.status === 401 && /expired/.test(s.json?.message), s.json);
  const edKey = crypto.generateKeyPairSync('ed25519');
  s = await getCertificate(ready.fulcioURL, token, edKey, { pop: crypto.sign(null, Buffer.from('x'), edKey.privateKey).toString('base64') });
  check('Fulcio (mock CA) rejects non-P-256 keys (400)', s.status === 400 && /P-256/.test(s.json?.message), s.json);

  const cert = await getCertificate(ready.fulcioURL, token, k);
  const leafPem = cert.json.signedCertificateEmbeddedSct.chain.certificates[0];
  const env = dsseEnvelope(k.privateKey, statement());
  const badEnv = { ...env, payload: Buffer.from('{"x":1}').toString('base64') };
  s = await post(`${ready.rekorURL}/api/v1/log/entries`, dsseProposed(badEnv, leafPem));
  check('Rekor rejects a dsse entry whose signature does not verify (400)', s.status === 400 && /all signatures must have a key that verifies it/.test(s.json?.message), s.json);
  s = await post(`${ready.variants.unavailableRekorURL}/api/v1/log/entries`, dsseProposed(env, leafPem));
  check('Rekor "unavailable" variant answers 503', s.status === 503, s.json);

  // 7. A key-signed envelope can also be logged (verifier = PUBLIC KEY PEM), Ed25519 included.
  const ek = crypto.generateKeyPairSync('ed25519');
  const ehint = spkiSha256Hex(ek.publicKey);
  const eenv = dsseEnvelope(ek.privateKey, statement(), { keyid: ehint });
  const epem = ek.publicKey.export({ format: 'pem', type: 'spki' });
  s = await post(`${ready.rekorURL}/api/v1/log/entries`, dsseProposed(eenv, epem));
  const kb = keyBundle(eenv, ehint);
  kb.verificationMaterial.tlogEntries = [tlogEntryFromRekor(s.json).entry];
  const kdir = path.join(work, 'key-logged');
  mkdirSync(kdir, { recursive: true });
  writeFileSync(path.join(kdir, 'bundle.json'), JSON.stringify(kb, null, 2));
  writeFileSync(path.join(kdir, 'key.pub.pem'), epem);
  r = runVerify(['--bundle', path.join(kdir, 'bundle.json'), '--key', path.join(kdir, 'key.pub.pem'), '--trusted-root', ready.trustedRoot, '--require-tlog', '1']);
  check('key-signed Ed25519 DSSE logged in mock Rekor verifies with --key + --trusted-root --require-tlog 1', s.status === 201 && r.status === 0, r.result);
  r = runVerify(['--bundle', path.join(kdir, 'bundle.json'), '--key', path.join(kdir, 'key.pub.pem')]);
  check('... and without the trusted root its log entry cannot be verified', r.status === 1 && /TLOG_INCLUSION_PROMISE_ERROR/.test(r.result.error), r.result);

  // Sanity: the PAE helper matches the DSSE spec vector.
  check('PAE matches the DSSE spec example', pae('http://example.com/HelloWorld', Buffer.from('hello world')).toString() === 'DSSEv1 29 http://example.com/HelloWorld 11 hello world');
}

let ok = false;
try {
  await main();
} catch (e) {
  check(`unexpected error: ${e.stack || e}`, false);
} finally {
  ok = finish();
  if (child) child.kill('SIGTERM');
  if (!keep) rmSync(work, { recursive: true, force: true });
}
process.exit(ok ? 0 : 1);
