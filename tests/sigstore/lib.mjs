// Shared helpers for the Sigstore test tooling: DSSE PAE and signing with node:crypto, in-toto
// statements, bundle assembly, and running verify-bundle.mjs as a child process.
import crypto from 'node:crypto';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const here = path.dirname(fileURLToPath(import.meta.url));
export const BUNDLE_V03_MEDIA_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';

// DSSE v1 pre-authentication encoding: "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body,
// lengths in bytes, ASCII decimal.
export function pae(payloadType, body) {
  const t = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([
    Buffer.from(`DSSEv1 ${t.length} `, 'ascii'),
    t,
    Buffer.from(` ${body.length} `, 'ascii'),
    body,
  ]);
}

// Signs PAE with a node KeyObject: Ed25519 (pure), or ECDSA with SHA-256 and an ASN.1 DER
// signature (what Sigstore expects; not the raw r||s of the DSSE spec vector).
export function signPae(privateKey, payloadType, body) {
  const msg = pae(payloadType, body);
  const alg = privateKey.asymmetricKeyType === 'ed25519' ? null : 'sha256';
  return crypto.sign(alg, msg, privateKey);
}

export function statement(subjects = [{ name: 'hello.txt', content: 'hello\n' }]) {
  return {
    _type: 'https://in-toto.io/Statement/v1',
    subject: subjects.map((s) => ({
      name: s.name,
      digest: { sha256: crypto.createHash('sha256').update(s.content).digest('hex') },
    })),
    predicateType: 'https://slsa.dev/provenance/v1',
    predicate: {
      buildDefinition: { buildType: 'https://example.com/codex-attest/test@v1', externalParameters: {} },
      runDetails: { builder: { id: 'https://example.com/codex-attest/test-builder' } },
    },
  };
}

// A DSSE envelope (JSON form) with one signature.
export function dsseEnvelope(privateKey, payload, { payloadType = IN_TOTO_PAYLOAD_TYPE, keyid } = {}) {
  const body = Buffer.isBuffer(payload) ? payload : Buffer.from(JSON.stringify(payload), 'utf8');
  const sig = signPae(privateKey, payloadType, body);
  const s = { sig: sig.toString('base64') };
  if (keyid !== undefined) s.keyid = keyid;
  return { payload: body.toString('base64'), payloadType, signatures: [s] };
}

// Bundle v0.3 for a key-signed DSSE envelope: publicKey hint, no log entry.
export function keyBundle(envelope, hint) {
  return {
    mediaType: BUNDLE_V03_MEDIA_TYPE,
    verificationMaterial: { publicKey: { hint }, tlogEntries: [] },
    dsseEnvelope: envelope,
  };
}

// The hex SHA-256 of the DER SubjectPublicKeyInfo: one conventional public-key hint.
export function spkiSha256Hex(publicKey) {
  return crypto.createHash('sha256').update(publicKey.export({ format: 'der', type: 'spki' })).digest('hex');
}

// Runs verify-bundle.mjs; returns {status, result} where result is its parsed JSON line.
export function runVerify(args, env = process.env) {
  const r = spawnSync(process.execPath, [path.join(here, 'verify-bundle.mjs'), ...args], {
    encoding: 'utf8',
    env,
  });
  let result;
  try {
    result = JSON.parse(r.stdout.trim().split('\n').pop());
  } catch {
    result = { ok: false, error: `no JSON output; stderr: ${r.stderr}` };
  }
  return { status: r.status, result, stderr: r.stderr };
}

// A tiny check runner that prints "N passed, N failed" at the end.
export function checker() {
  let passed = 0;
  let failed = 0;
  return {
    check(name, cond, detail) {
      if (cond) {
        passed++;
        console.log(`ok   - ${name}`);
      } else {
        failed++;
        console.log(`FAIL - ${name}${detail ? `: ${typeof detail === 'string' ? detail : JSON.stringify(detail)}` : ''}`);
      }
    },
    finish() {
      console.log(`${passed} passed, ${failed} failed`);
      process.exitCode = failed ? 1 : 0;
      return failed === 0;
    },
  };
}

// PEM -> DER for the first PEM block in text.
export function pemToDer(pem) {
  const m = /-----BEGIN [^-]+-----([\s\S]*?)-----END [^-]+-----/.exec(pem);
  if (!m) throw new Error('no PEM block');
  return Buffer.from(m[1].replace(/\s+/g, ''), 'base64');
}

// Rekor v1 response ({uuid: {body, integratedTime, logID, logIndex, verification}}) -> bundle
// TransparencyLogEntry JSON (protobuf JSON mapping: int64 as strings, bytes as standard base64).
export function tlogEntryFromRekor(response) {
  const [uuid, e] = Object.entries(response)[0];
  const body = JSON.parse(Buffer.from(e.body, 'base64').toString('utf8'));
  const entry = {
    logIndex: String(e.logIndex),
    logId: { keyId: Buffer.from(e.logID, 'hex').toString('base64') },
    kindVersion: { kind: body.kind, version: body.apiVersion },
    integratedTime: String(e.integratedTime),
  };
  if (e.verification?.signedEntryTimestamp) {
    entry.inclusionPromise = { signedEntryTimestamp: e.verification.signedEntryTimestamp };
  }
  const p = e.verification?.inclusionProof;
  if (p) {
    entry.inclusionProof = {
      logIndex: String(p.logIndex),
      rootHash: Buffer.from(p.rootHash, 'hex').toString('base64'),
      treeSize: String(p.treeSize),
      hashes: p.hashes.map((h) => Buffer.from(h, 'hex').toString('base64')),
      checkpoint: { envelope: p.checkpoint },
    };
  }
  entry.canonicalizedBody = e.body;
  return { uuid, entry };
}

// Bundle v0.3 for a keyless DSSE envelope: the leaf certificate only, plus tlog entries and
// optional RFC 3161 timestamps (base64 DER TimeStampResp).
export function keylessBundle(envelope, leafDer, tlogEntries, rfc3161 = []) {
  const vm = {
    certificate: { rawBytes: Buffer.from(leafDer).toString('base64') },
    tlogEntries,
  };
  if (rfc3161.length) {
    vm.timestampVerificationData = { rfc3161Timestamps: rfc3161.map((t) => ({ signedTimestamp: Buffer.from(t).toString('base64') })) };
  }
  return { mediaType: BUNDLE_V03_MEDIA_TYPE, verificationMaterial: vm, dsseEnvelope: envelope };
}
