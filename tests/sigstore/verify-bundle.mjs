#!/usr/bin/env node
// Verifies a Sigstore bundle (v0.1-v0.3, DSSE content) with the npm @sigstore/verify library, as an
// independent check of the bundles codex-attest writes.
//
//   node verify-bundle.mjs --bundle B.json --key PUB.pem [--trusted-root ROOT.json]
//   node verify-bundle.mjs --bundle B.json --trusted-root ROOT.json --identity ID --issuer ISS
//   common options:
//     --artifact-digest sha256:HEX   the in-toto statement must have a subject with this digest
//     --identity-regex RE            match the certificate SAN against a JS regexp instead of ID
//     --require-tlog N               transparency-log entries required (key mode default 0,
//                                    keyless default 1)
//     --require-keyid-hint-match     fail when the DSSE keyid is set and differs from
//                                    verificationMaterial.publicKey.hint (off by default:
//                                    @sigstore/verify ignores keyids)
//
// Key mode: the trust material is built from the public key (Ed25519 or ECDSA P-256 SPKI PEM),
// registered under whatever verificationMaterial.publicKey.hint the bundle carries; no tlog,
// timestamp or CT log is required. Keyless mode: the trust material is the TrustedRoot JSON; the
// certificate must chain to one of its CAs, carry an SCT from one of its CT logs, be valid at the
// log's integrated time, and its SAN and Fulcio issuer extension must equal --identity/--issuer.
//
// Prints exactly one JSON line, {"ok":true,...} or {"ok":false,"error":"..."}. Exit status: 0 when
// verified, 1 when verification failed, 2 on a usage error.
import { readFileSync } from 'node:fs';
import crypto from 'node:crypto';
import { requireDep, depVersion } from './deps.mjs';

const { Verifier, toTrustMaterial, toSignedEntity } = requireDep('@sigstore/verify');
const { bundleFromJSON } = requireDep('@sigstore/bundle');
const { TrustedRoot } = requireDep('@sigstore/protobuf-specs');

const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';

function emit(obj, code) {
  process.stdout.write(JSON.stringify(obj) + '\n');
  process.exit(code);
}

function usage(msg) {
  emit({ ok: false, error: `usage: ${msg}` }, 2);
}

function parseArgs(argv) {
  const flags = new Set(['--require-keyid-hint-match']);
  const valued = new Set([
    '--bundle', '--key', '--trusted-root', '--identity', '--identity-regex', '--issuer',
    '--artifact-digest', '--require-tlog',
  ]);
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (flags.has(a)) {
      out[a.slice(2)] = true;
    } else if (valued.has(a)) {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      out[a.slice(2)] = argv[++i];
    } else {
      usage(`unknown argument ${a}`);
    }
  }
  return out;
}

// Describes an error from @sigstore/* with its code and the chain of causes.
function describe(err) {
  const parts = [];
  for (let e = err, depth = 0; e && depth < 5; e = e.cause, depth++) {
    let s = e.code ? `${e.code}: ${e.message}` : String(e.message ?? e);
    if (Array.isArray(e.fields) && e.fields.length) s += ` [${e.fields.join(', ')}]`;
    parts.push(s);
  }
  return parts.join(' (cause: ') + ')'.repeat(parts.length - 1);
}

function escapeRegex(s) {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

const EMPTY_ROOT = {
  mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
  tlogs: [],
  certificateAuthorities: [],
  ctlogs: [],
  timestampAuthorities: [],
};

function loadKey(file) {
  let key;
  try {
    key = crypto.createPublicKey(readFileSync(file));
  } catch (e) {
    throw new Error(`cannot read public key ${file}: ${e.message}`);
  }
  const type = key.asymmetricKeyType;
  const curve = key.asymmetricKeyDetails?.namedCurve;
  let keyDetails;
  if (type === 'ed25519') keyDetails = 'PKIX_ED25519';
  else if (type === 'ec' && curve === 'prime256v1') keyDetails = 'PKIX_ECDSA_P256_SHA_256';
  else throw new Error(`unsupported public key type ${type}${curve ? ` (${curve})` : ''}: want Ed25519 or ECDSA P-256`);
  return { key, keyDetails, spki: key.export({ format: 'der', type: 'spki' }) };
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  if (!args.bundle) usage('--bundle is required');
  const keyMode = Boolean(args.key);
  if (!keyMode) {
    if (!args['trusted-root']) usage('give --key PUB.pem, or --trusted-root ROOT.json with --identity and --issuer');
    if (!args.identity && !args['identity-regex']) usage('keyless verification needs --identity (or --identity-regex)');
    if (!args.issuer) usage('keyless verification needs --issuer');
  }
  let digest;
  if (args['artifact-digest']) {
    const m = /^sha256:([0-9a-fA-F]{64})$/.exec(args['artifact-digest']);
    if (!m) usage('--artifact-digest must be sha256:<64 hex>');
    digest = m[1].toLowerCase();
  }
  const tlogThreshold = args['require-tlog'] !== undefined ? Number(args['require-tlog']) : keyMode ? 0 : 1;
  if (!Number.isInteger(tlogThreshold) || tlogThreshold < 0) usage('--require-tlog must be a non-negative integer');

  const info = {
    verifier: `@sigstore/verify@${depVersion('@sigstore/verify')}`,
    mode: keyMode ? 'key' : 'keyless',
  };
  const fail = (error, extra = {}) => emit({ ok: false, error, ...info, ...extra }, 1);

  // 1. Parse and structurally validate the bundle (@sigstore/bundle).
  let json;
  try {
    json = JSON.parse(readFileSync(args.bundle, 'utf8'));
  } catch (e) {
    return fail(`cannot read bundle ${args.bundle}: ${e.message}`);
  }
  let bundle;
  try {
    bundle = bundleFromJSON(json);
  } catch (e) {
    return fail(`invalid bundle: ${describe(e)}`);
  }
  info.mediaType = bundle.mediaType;
  if (bundle.content?.$case !== 'dsseEnvelope') {
    return fail(`bundle content is ${bundle.content?.$case}; only dsseEnvelope bundles are supported`);
  }
  const env = bundle.content.dsseEnvelope;
  info.payloadType = env.payloadType;
  const vm = bundle.verificationMaterial;
  const tlogEntries = vm.tlogEntries || [];
  info.tlogEntries = tlogEntries.length;
  info.rfc3161Timestamps = vm.timestampVerificationData?.rfc3161Timestamps?.length || 0;

  // 2. Trust material.
  let root = EMPTY_ROOT;
  if (args['trusted-root']) {
    try {
      root = TrustedRoot.fromJSON(JSON.parse(readFileSync(args['trusted-root'], 'utf8')));
    } catch (e) {
      return fail(`cannot read trusted root ${args['trusted-root']}: ${e.message}`);
    }
  } else {
    root = TrustedRoot.fromJSON(EMPTY_ROOT);
  }
  let keys = {};
  if (keyMode) {
    if (vm.content?.$case !== 'publicKey') {
      return fail(`bundle verification material is ${vm.content?.$case}, not publicKey: verify it with --trusted-root, --identity and --issuer`);
    }
    let k;
    try {
      k = loadKey(args.key);
    } catch (e) {
      emit({ ok: false, error: e.message, ...info }, 2);
    }
    const hint = vm.content.publicKey.hint;
    info.keyHint = hint;
    info.keyType = k.keyDetails;
    const keyid = env.signatures[0].keyid;
    info.keyid = keyid;
    info.keyidMatchesHint = keyid === '' || keyid === hint;
    if (args['require-keyid-hint-match'] && !info.keyidMatchesHint) {
      return fail(`DSSE keyid ${JSON.stringify(keyid)} does not match publicKey.hint ${JSON.stringify(hint)}`);
    }
    keys = { [hint]: { rawBytes: k.spki, keyDetails: k.keyDetails, validFor: { start: new Date(0) } } };
  } else if (vm.content?.$case === 'publicKey') {
    return fail('bundle carries a public-key hint, not a certificate: verify it with --key');
  }
  if (tlogEntries.length < tlogThreshold) {
    return fail(
      `TLOG_ERROR: missing transparency log entry: the bundle has ${tlogEntries.length} tlogEntries, ${tlogThreshold} required`
    );
  }
  const trust = toTrustMaterial(root, keys);

  // 3. Cryptographic verification (@sigstore/verify).
  const verifier = new Verifier(trust, {
    tlogThreshold,
    ctlogThreshold: keyMode ? 0 : 1,
    timestampThreshold: keyMode ? 0 : 1,
  });
  const policy = keyMode
    ? undefined
    : {
        subjectAlternativeName: args['identity-regex'] || `^${escapeRegex(args.identity)}$`,
        extensions: { issuer: args.issuer },
      };
  let signer;
  try {
    const entity = toSignedEntity(bundle);
    info.timestamps = entity.timestamps.map((t) =>
      t.$case === 'transparency-log'
        ? { type: 'tlog', time: new Date(Number(t.tlogEntry.integratedTime) * 1000).toISOString() }
        : { type: 'rfc3161', time: t.timestamp.signingTime.toISOString() }
    );
    signer = verifier.verify(entity, policy);
  } catch (e) {
    return fail(describe(e));
  }
  if (signer.identity) {
    info.identity = signer.identity.subjectAlternativeName;
    info.issuer = signer.identity.extensions?.issuer;
  }

  // 4. The statement, from the verified payload bytes only.
  if (env.payloadType === IN_TOTO_PAYLOAD_TYPE) {
    let statement;
    try {
      statement = JSON.parse(Buffer.from(env.payload).toString('utf8'));
    } catch (e) {
      return fail(`payload is not JSON: ${e.message}`);
    }
    info.statementType = statement._type;
    info.predicateType = statement.predicateType;
    info.subjects = Array.isArray(statement.subject) ? statement.subject.length : 0;
    if (digest) {
      const hit = (statement.subject || []).some((s) => (s?.digest?.sha256 || '').toLowerCase() === digest);
      if (!hit) return fail(`no subject of the statement has digest sha256:${digest}`);
      info.artifactDigest = `sha256:${digest}`;
    }
  } else if (digest) {
    return fail(`payloadType is ${env.payloadType}, not ${IN_TOTO_PAYLOAD_TYPE}: cannot check --artifact-digest`);
  }
  emit({ ok: true, ...info }, 0);
}

try {
  main();
} catch (e) {
  emit({ ok: false, error: `internal error: ${e.stack || e}` }, 1);
}
