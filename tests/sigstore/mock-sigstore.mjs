#!/usr/bin/env node
// Local mock Sigstore stack over real HTTP on 127.0.0.1, built on the npm @sigstore/mock handlers
// (Fulcio CA + CT log, Rekor v1 log, RFC 3161 TSA), plus a tiny OIDC token issuer, so keyless
// signing can be tested end to end without the network. See README.md for every wire format.
//
//   node mock-sigstore.mjs [serve] --out STATE_DIR [--port 0] [--lifetime 900] [--lenient]
//   node mock-sigstore.mjs token --out STATE_DIR --subject SUB [--issuer ISS] [--email EMAIL]
//                                [--audience sigstore] [--expires-in 600]
//
// serve writes to STATE_DIR:
//   trusted_root.json            TrustedRoot v0.1 for this CA, CT log, Rekor log and TSA
//   trusted_root_ca_closed.json  the same, but the CA's validFor window ended yesterday
//   oidc_signing_key.pem         the ES256 key tokens are signed with (used by `token`)
//   requests.jsonl               one line per HTTP request: method, path, status, bodies (trimmed)
//   ready.json                   written last (atomically): port, URLs, pid; poll for it
// and prints ready.json's content as one line on stdout. It binds 127.0.0.1 only, and exits by
// itself after --lifetime seconds (0 = never), or on SIGTERM/SIGINT.
//
// Routes (BASE = http://127.0.0.1:PORT):
//   POST BASE/api/v2/signingCert                 Fulcio: certificate valid for 10 minutes from now
//   POST BASE/expired/api/v2/signingCert         Fulcio: certificate valid 2h..1h50m ago (expired)
//   POST BASE/untrusted/api/v2/signingCert       Fulcio: certificate from a CA not in the trusted root
//   POST BASE/api/v1/log/entries                 Rekor v1: dsse 0.0.1, intoto 0.0.2, hashedrekord 0.0.1
//   GET  BASE/api/v1/log/entries/{uuid}          Rekor v1: an entry logged earlier
//   POST BASE/rogue/api/v1/log/entries           Rekor v1 signed by a log key not in the trusted root
//   POST BASE/unavailable/api/v1/log/entries     always 503 (the log is down)
//   POST BASE/api/v1/timestamp                   TSA: RFC 3161 TimeStampResp (DER)
//   POST BASE/oidc/token  (JSON {subject, issuer?, email?, audience?, expiresIn?}) -> {"id_token"}
//   GET  BASE/oidc/token?subject=..&issuer=..&email=..&audience=..&expiresIn=..    -> {"id_token"}
//   GET  BASE/oidc/.well-known/openid-configuration, GET BASE/oidc/jwks
import http from 'node:http';
import crypto from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync, appendFileSync } from 'node:fs';
import path from 'node:path';
import { requireDep, depVersion } from './deps.mjs';

const mock = requireDep('@sigstore/mock');
const { TrustedRoot } = requireDep('@sigstore/protobuf-specs');
const x509 = requireDep('@peculiar/x509');

const DAY = 24 * 3600 * 1000;
const MAX_BODY = 10 * 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// arguments

function parseArgs(argv) {
  const out = { _: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--lenient') out.lenient = true;
    else if (a.startsWith('--')) {
      if (i + 1 >= argv.length) die(`${a} needs a value`);
      out[a.slice(2)] = argv[++i];
    } else out._.push(a);
  }
  return out;
}

function die(msg) {
  process.stderr.write(`mock-sigstore: ${msg}\n`);
  process.exit(2);
}

// ---------------------------------------------------------------------------------------------
// helpers

const b64url = (buf) => Buffer.from(buf).toString('base64url');
const sha256 = (data) => crypto.createHash('sha256').update(data).digest();
const sha256hex = (data) => sha256(data).toString('hex');

// PEM with 64-column lines and a final newline: Go's pem.Encode, which is what Rekor's
// CanonicalValue() produces for certificates ("CERTIFICATE") and public keys ("PUBLIC KEY").
function canonicalPem(label, der) {
  const b64 = Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

// Parses a verifier/public key given as PEM (certificate or SPKI public key). Returns the node
// KeyObject and Rekor's canonical PEM for it.
function parseVerifier(pemText) {
  if (/-----BEGIN CERTIFICATE-----/.test(pemText)) {
    const cert = new crypto.X509Certificate(pemText);
    return { key: cert.publicKey, canonical: canonicalPem('CERTIFICATE', cert.raw) };
  }
  const key = crypto.createPublicKey(pemText);
  return { key, canonical: canonicalPem('PUBLIC KEY', key.export({ format: 'der', type: 'spki' })) };
}

function pae(payloadType, body) {
  const t = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([Buffer.from(`DSSEv1 ${t.length} `), t, Buffer.from(` ${body.length} `), body]);
}

function verifySig(key, data, sig) {
  const alg = key.asymmetricKeyType === 'ed25519' ? null : 'sha256';
  try {
    return crypto.verify(alg, data, key, sig);
  } catch {
    return false;
  }
}

class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// ---------------------------------------------------------------------------------------------
// OIDC tokens (ES256 JWTs signed by a key of this mock)

function signJwt(privateKey, kid, claims) {
  const header = { alg: 'ES256', typ: 'JWT', kid };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  const sig = crypto.sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' });
  return `${input}.${b64url(sig)}`;
}

function mintToken(privateKey, { subject, issuer, email, audience, expiresIn }) {
  if (!subject) throw new HttpError(400, 'subject is required');
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    iss: issuer,
    sub: subject,
    aud: audience || 'sigstore',
    iat: now,
    nbf: now,
    exp: now + Number(expiresIn ?? 600),
  };
  if (email) {
    claims.email = email;
    claims.email_verified = true;
  }
  const kid = sha256hex(privateKey.export({ format: 'der', type: 'pkcs8' })).slice(0, 16);
  return signJwt(privateKey, kid, claims);
}

function decodeJwt(token) {
  const parts = String(token || '').split('.');
  if (parts.length !== 3) throw new HttpError(401, 'invalid OIDC token: not a JWT');
  let header, claims;
  try {
    header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8'));
    claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
  } catch {
    throw new HttpError(401, 'invalid OIDC token: undecodable header or claims');
  }
  return { parts, header, claims };
}

// What Fulcio's OIDC layer checks (signature, expiry, audience); the issuer claim is not limited,
// so tests can mint tokens for any issuer.
function checkToken(token, publicKey, lenient) {
  const { parts, header, claims } = decodeJwt(token);
  if (lenient) return claims;
  if (header.alg !== 'ES256') throw new HttpError(401, `invalid OIDC token: alg ${header.alg}, want ES256`);
  const ok = crypto.verify(
    'sha256',
    Buffer.from(`${parts[0]}.${parts[1]}`),
    { key: publicKey, dsaEncoding: 'ieee-p1363' },
    Buffer.from(parts[2], 'base64url')
  );
  if (!ok) throw new HttpError(401, 'invalid OIDC token: signature does not verify with the mock issuer key');
  const now = Math.floor(Date.now() / 1000);
  if (typeof claims.exp !== 'number' || claims.exp < now) throw new HttpError(401, 'invalid OIDC token: expired');
  if (typeof claims.nbf === 'number' && claims.nbf > now + 60) throw new HttpError(401, 'invalid OIDC token: not yet valid');
  const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (!aud.includes('sigstore')) throw new HttpError(401, `invalid OIDC token: audience ${JSON.stringify(claims.aud)} does not include "sigstore"`);
  if (!claims.iss) throw new HttpError(401, 'invalid OIDC token: no iss claim');
  if (!claims.sub) throw new HttpError(401, 'invalid OIDC token: no sub claim');
  if (claims.email && claims.email_verified !== true) throw new HttpError(401, 'invalid OIDC token: email not verified');
  return claims;
}

// ---------------------------------------------------------------------------------------------
// Fulcio front end: checks the token and the proof of possession, then hands the request to
// @sigstore/mock's fulcioHandler (which only decodes the JWT and issues the certificate).

async function checkProofOfPossession(req, claims) {
  // The challenge is the email claim when there is one, else sub (as sigstore-js and Fulcio do).
  const challenge = Buffer.from(claims.email || claims.sub, 'utf8');
  if (req.publicKeyRequest) {
    const pkr = req.publicKeyRequest;
    let key;
    try {
      key = crypto.createPublicKey(pkr.publicKey?.content || '');
    } catch (e) {
      throw new HttpError(400, `publicKeyRequest.publicKey.content is not a PEM public key: ${e.message}`);
    }
    if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
      throw new HttpError(400, 'the mock CA only certifies ECDSA P-256 keys');
    }
    const pop = Buffer.from(pkr.proofOfPossession || '', 'base64');
    if (!pop.length || !verifySig(key, challenge, pop)) {
      throw new HttpError(400, `proof of possession does not verify: want an ECDSA-SHA256 (DER) signature over ${JSON.stringify(challenge.toString())}`);
    }
  } else if (req.certificateSigningRequest) {
    const csr = new x509.Pkcs10CertificateRequest(Buffer.from(req.certificateSigningRequest, 'base64').toString('utf8'));
    if (!(await csr.verify())) throw new HttpError(400, 'certificate signing request signature does not verify');
  } else {
    throw new HttpError(400, 'need publicKeyRequest or certificateSigningRequest');
  }
}

function makeFulcio(handlers, oidcPublicKey, lenient) {
  return async (bodyText) => {
    let req;
    try {
      req = JSON.parse(bodyText);
    } catch {
      throw new HttpError(400, 'request body is not JSON');
    }
    const token = req?.credentials?.oidcIdentityToken;
    if (!token) throw new HttpError(400, 'credentials.oidcIdentityToken is required');
    const claims = checkToken(token, oidcPublicKey, lenient);
    if (!lenient) await checkProofOfPossession(req, claims);
    if (req.certificateSigningRequest) {
      // @sigstore/mock parses the CSR as PEM text; the Fulcio API sends it base64-encoded.
      req = { ...req, certificateSigningRequest: Buffer.from(req.certificateSigningRequest, 'base64').toString('utf8') };
    }
    // SAN: the email claim when present, else sub (always encoded by @sigstore/mock as a URI SAN).
    const handler = claims.email ? handlers.email : handlers.sub;
    return handler.fn(JSON.stringify(req));
  };
}

// ---------------------------------------------------------------------------------------------
// Rekor front end: canonicalizes the proposed entry the way Rekor v1 does, then hands it to
// @sigstore/mock's rekorHandler (which logs whatever body it is given, JCS-canonicalized).

function canonicalDsse(entry) {
  const spec = entry.spec || {};
  const pc = spec.proposedContent;
  if (!pc) throw new HttpError(400, 'dsse 0.0.1: spec.proposedContent is required');
  if (spec.envelopeHash || spec.payloadHash || spec.signatures) {
    throw new HttpError(400, 'dsse 0.0.1: either proposedContent or envelopeHash, payloadHash, and signatures must be present but not both');
  }
  if (typeof pc.envelope !== 'string') throw new HttpError(400, 'dsse 0.0.1: proposedContent.envelope must be the envelope JSON as a string');
  if (!Array.isArray(pc.verifiers) || pc.verifiers.length === 0) throw new HttpError(400, 'dsse 0.0.1: proposedContent.verifiers must be a non-empty array');
  let env;
  try {
    env = JSON.parse(pc.envelope);
  } catch {
    throw new HttpError(400, 'dsse 0.0.1: proposedContent.envelope is not JSON');
  }
  if (!Array.isArray(env.signatures) || env.signatures.length === 0) throw new HttpError(400, 'DSSE envelope must contain 1 or more signatures');
  const payload = Buffer.from(env.payload || '', 'base64');
  const message = pae(env.payloadType || '', payload);
  const verifiers = pc.verifiers.map((v) => {
    try {
      return parseVerifier(Buffer.from(v, 'base64').toString('utf8'));
    } catch (e) {
      throw new HttpError(400, `could not parse public key as x509: ${e.message}`);
    }
  });
  const bySig = new Map();
  for (const s of env.signatures) {
    const v = verifiers.find((vf) => verifySig(vf.key, message, Buffer.from(s.sig || '', 'base64')));
    if (!v) throw new HttpError(400, 'all signatures must have a key that verifies it');
    bySig.set(s.sig, Buffer.from(v.canonical, 'utf8').toString('base64'));
  }
  const signatures = [...bySig.keys()].sort().map((sig) => ({ signature: sig, verifier: bySig.get(sig) }));
  return {
    apiVersion: '0.0.1',
    kind: 'dsse',
    spec: {
      envelopeHash: { algorithm: 'sha256', value: sha256hex(Buffer.from(pc.envelope, 'utf8')) },
      payloadHash: { algorithm: 'sha256', value: sha256hex(payload) },
      signatures,
    },
  };
}

function canonicalIntoto(entry) {
  const content = entry.spec?.content;
  const env = content?.envelope;
  if (!env) throw new HttpError(400, 'intoto 0.0.2: spec.content.envelope is required');
  if (!content.hash?.value) throw new HttpError(400, 'intoto 0.0.2: missing envelope digest (spec.content.hash)');
  if (!env.payload) throw new HttpError(400, 'intoto 0.0.2: spec.content.envelope.payload is required');
  if (!Array.isArray(env.signatures) || env.signatures.length === 0) throw new HttpError(400, 'intoto 0.0.2: missing signatures');
  // payload and sig are base64 of the base64 strings of the DSSE envelope; publicKey is base64(PEM).
  const payloadB64 = Buffer.from(env.payload, 'base64').toString('utf8');
  const payload = Buffer.from(payloadB64, 'base64');
  const message = pae(env.payloadType || '', payload);
  for (const s of env.signatures) {
    let key;
    try {
      key = parseVerifier(Buffer.from(s.publicKey || '', 'base64').toString('utf8')).key;
    } catch (e) {
      throw new HttpError(400, `intoto 0.0.2: bad publicKey: ${e.message}`);
    }
    const sig = Buffer.from(Buffer.from(s.sig || '', 'base64').toString('utf8'), 'base64');
    if (!verifySig(key, message, sig)) throw new HttpError(400, 'intoto 0.0.2: envelope signature does not verify');
  }
  const signatures = env.signatures.map((s) => {
    const o = { sig: s.sig, publicKey: s.publicKey };
    if (s.keyid) o.keyid = s.keyid;
    return o;
  });
  return {
    apiVersion: '0.0.2',
    kind: 'intoto',
    spec: {
      content: {
        envelope: { payloadType: env.payloadType, signatures },
        hash: content.hash,
        payloadHash: { algorithm: 'sha256', value: sha256hex(payload) },
      },
    },
  };
}

function canonicalEntry(entry) {
  const kv = `${entry?.kind}/${entry?.apiVersion}`;
  switch (kv) {
    case 'dsse/0.0.1':
      return canonicalDsse(entry);
    case 'intoto/0.0.2':
      return canonicalIntoto(entry);
    case 'hashedrekord/0.0.1':
      return entry; // already in canonical shape
    default:
      throw new HttpError(400, `unsupported entry kind/apiVersion ${kv}: use dsse/0.0.1, intoto/0.0.2 or hashedrekord/0.0.1`);
  }
}

function makeRekor(handler, store) {
  return async (bodyText) => {
    let proposed;
    try {
      proposed = JSON.parse(bodyText);
    } catch {
      throw new HttpError(400, 'request body is not JSON');
    }
    const canonical = canonicalEntry(proposed);
    const res = await handler.fn(JSON.stringify(canonical));
    if (res.statusCode === 201) {
      const obj = JSON.parse(res.response);
      const uuid = Object.keys(obj)[0];
      store.set(uuid, res.response);
      res.headers = { Location: `/api/v1/log/entries/${uuid}`, ETag: uuid };
    }
    return res;
  };
}

// ---------------------------------------------------------------------------------------------
// the server

async function serve(args) {
  const out = args.out || die('--out STATE_DIR is required');
  mkdirSync(out, { recursive: true });
  const lenient = Boolean(args.lenient);
  const lifetime = Number(args.lifetime ?? 900);
  const started = new Date();
  const validStart = new Date(started.getTime() - DAY);

  const gen = () => crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const caKeys = gen();
  const ctKeys = gen();
  const rekorKeys = gen();
  const rogueKeys = gen();
  const tsaKeys = gen();
  const untrustedCaKeys = gen();
  const oidcKeys = gen();
  writeFileSync(path.join(out, 'oidc_signing_key.pem'), oidcKeys.privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });

  const server = http.createServer();
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(args.port ?? 0), '127.0.0.1', resolve);
  });
  const port = server.address().port;
  const base = `http://127.0.0.1:${port}`;
  const oidcIssuer = `${base}/oidc`;

  // Fulcio: one CT log; a CA valid now, the same CA with its clock 2 hours back (its certificates
  // are expired by the time they are logged), and a CA whose root is not in the trusted root.
  const ctlog = await mock.initializeCTLog(ctKeys);
  const ca = await mock.initializeCA(caKeys, ctlog);
  const caPast = await mock.initializeCA(caKeys, ctlog, new Date(Date.now() - 2 * 3600 * 1000));
  const caUntrusted = await mock.initializeCA(untrustedCaKeys, ctlog);
  // Present the trusted root certificate in every chain (caPast's own self-signed root has the
  // same name and key, but different bytes).
  const withRoot = (c) => ({ issueCertificate: (o) => c.issueCertificate(o), rootCertificate: ca.rootCertificate });
  const fulcioPair = (c) => ({
    sub: mock.fulcioHandler(c, { subjectClaim: 'sub' }),
    email: mock.fulcioHandler(c, { subjectClaim: 'email' }),
  });
  const fulcio = makeFulcio(fulcioPair(ca), oidcKeys.publicKey, lenient);
  const fulcioExpired = makeFulcio(fulcioPair(withRoot(caPast)), oidcKeys.publicKey, lenient);
  const fulcioUntrusted = makeFulcio(fulcioPair(caUntrusted), oidcKeys.publicKey, lenient);

  // Rekor: the checkpoint signer name is the URL's host ("127.0.0.1:PORT"); @sigstore/verify
  // requires it to be a substring of the trusted root's tlog baseUrl.
  const store = new Map();
  const tlog = await mock.initializeTLog(base, rekorKeys);
  const rogue = await mock.initializeTLog(base, rogueKeys);
  const rekor = makeRekor(mock.rekorHandler(tlog), store);
  const rekorRogue = makeRekor(mock.rekorHandler(rogue), store);

  // TSA
  const tsa = await mock.initializeTSA(tsaKeys);
  const tsaHandler = mock.tsaHandler(tsa);

  // Trusted root.
  const spki = (k) => k.publicKey.export({ format: 'der', type: 'spki' });
  const rekorSpki = spki(rekorKeys);
  const ctSpki = spki(ctKeys);
  const caEntry = (validFor) => ({
    subject: { organization: 'sigstore.mock', commonName: 'sigstore' },
    uri: base,
    certChain: { certificates: [{ rawBytes: ca.rootCertificate }] },
    validFor,
    operator: 'codex-attest mock',
  });
  const root = (caValidFor) =>
    TrustedRoot.toJSON({
      mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
      tlogs: [
        {
          baseUrl: base,
          hashAlgorithm: 1, // SHA2_256
          publicKey: { rawBytes: rekorSpki, keyDetails: 5 /* PKIX_ECDSA_P256_SHA_256 */, validFor: { start: validStart } },
          logId: { keyId: sha256(rekorSpki) },
          checkpointKeyId: undefined,
          operator: 'codex-attest mock',
        },
      ],
      certificateAuthorities: [caEntry(caValidFor)],
      ctlogs: [
        {
          baseUrl: `${base}/ct`,
          hashAlgorithm: 1,
          publicKey: { rawBytes: ctSpki, keyDetails: 5, validFor: { start: validStart } },
          logId: { keyId: sha256(ctSpki) },
          checkpointKeyId: undefined,
          operator: 'codex-attest mock',
        },
      ],
      timestampAuthorities: [
        {
          subject: { organization: 'sigstore.mock', commonName: 'tsa' },
          uri: `${base}/api/v1/timestamp`,
          certChain: { certificates: [{ rawBytes: tsa.intCertificate }, { rawBytes: tsa.rootCertificate }] },
          validFor: { start: validStart },
          operator: 'codex-attest mock',
        },
      ],
    });
  writeFileSync(path.join(out, 'trusted_root.json'), JSON.stringify(root({ start: validStart }), null, 2) + '\n');
  writeFileSync(
    path.join(out, 'trusted_root_ca_closed.json'),
    JSON.stringify(root({ start: new Date(started.getTime() - 2 * DAY), end: validStart }), null, 2) + '\n'
  );

  const logFile = path.join(out, 'requests.jsonl');
  const trim = (s) => (typeof s === 'string' && s.length > 4000 ? `${s.slice(0, 4000)}...(${s.length} chars)` : s);

  const routes = {
    'POST /api/v2/signingCert': fulcio,
    'POST /expired/api/v2/signingCert': fulcioExpired,
    'POST /untrusted/api/v2/signingCert': fulcioUntrusted,
    'POST /api/v1/log/entries': rekor,
    'POST /rogue/api/v1/log/entries': rekorRogue,
    'POST /unavailable/api/v1/log/entries': async () => {
      throw new HttpError(503, 'transparency log unavailable (mock)');
    },
    'POST /api/v1/timestamp': async (body) => {
      // pkijs writes TSTInfo.genTime in DER form, dropping trailing zeros of the fraction
      // ("...15.12Z", "...15.1Z"), but @sigstore/core 4.0.1 only parses exactly three fraction
      // digits (or none) and fails with "invalid time". About 1 in 10 timestamps would hit this,
      // so issue again (a few ms later) until genTime has 0 or 3 fraction digits.
      for (let i = 0; ; i++) {
        const res = await tsaHandler.fn(body);
        if (res.statusCode !== 201 || i >= 50) return res;
        const m = /\x18[\x0f-\x13](\d{14})(\.\d+)?Z/.exec(Buffer.from(res.response).toString('latin1'));
        if (!m || !m[2] || m[2].length === 4) return res;
        await new Promise((r) => setTimeout(r, 3));
      }
    },
    'POST /oidc/token': async (body) => {
      let p;
      try {
        p = JSON.parse(body || '{}');
      } catch {
        throw new HttpError(400, 'request body is not JSON');
      }
      return tokenResponse(p);
    },
  };
  const tokenResponse = (p) => ({
    statusCode: 200,
    contentType: 'application/json',
    response: JSON.stringify({
      id_token: mintToken(oidcKeys.privateKey, { ...p, issuer: p.issuer || oidcIssuer }),
      token_type: 'Bearer',
    }),
  });

  server.on('request', (req, res) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > MAX_BODY) req.destroy();
      else chunks.push(c);
    });
    req.on('end', async () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const url = new URL(req.url, base);
      const key = `${req.method} ${url.pathname}`;
      let result;
      try {
        if (routes[key]) {
          result = await routes[key](body);
        } else if (req.method === 'GET' && url.pathname.startsWith('/api/v1/log/entries/')) {
          const uuid = url.pathname.slice('/api/v1/log/entries/'.length);
          if (!store.has(uuid)) throw new HttpError(404, `no entry ${uuid}`);
          result = { statusCode: 200, contentType: 'application/json', response: store.get(uuid) };
        } else if (key === 'GET /oidc/token') {
          result = tokenResponse(Object.fromEntries(url.searchParams));
        } else if (key === 'GET /oidc/.well-known/openid-configuration') {
          result = {
            statusCode: 200,
            contentType: 'application/json',
            response: JSON.stringify({ issuer: oidcIssuer, jwks_uri: `${oidcIssuer}/jwks`, id_token_signing_alg_values_supported: ['ES256'] }),
          };
        } else if (key === 'GET /oidc/jwks') {
          const jwk = oidcKeys.publicKey.export({ format: 'jwk' });
          const kid = sha256hex(oidcKeys.privateKey.export({ format: 'der', type: 'pkcs8' })).slice(0, 16);
          result = { statusCode: 200, contentType: 'application/json', response: JSON.stringify({ keys: [{ ...jwk, kid, alg: 'ES256', use: 'sig' }] }) };
        } else {
          throw new HttpError(404, `no route ${key}`);
        }
      } catch (e) {
        const status = e instanceof HttpError ? e.status : 500;
        result = { statusCode: status, contentType: 'application/json', response: JSON.stringify({ code: status, message: e.message }) };
      }
      // @sigstore/mock's handlers report their own errors as 400 text/plain; make them JSON too.
      if (result.statusCode >= 400 && result.contentType !== 'application/json') {
        result = { ...result, contentType: 'application/json', response: JSON.stringify({ code: result.statusCode, message: String(result.response) }) };
      }
      res.writeHead(result.statusCode, { 'Content-Type': result.contentType || 'text/plain', ...(result.headers || {}) });
      res.end(result.response);
      try {
        appendFileSync(
          logFile,
          JSON.stringify({
            time: new Date().toISOString(),
            method: req.method,
            path: url.pathname + url.search,
            status: result.statusCode,
            request: trim(body),
            response: Buffer.isBuffer(result.response) ? `base64:${result.response.toString('base64')}` : trim(result.response),
          }) + '\n'
        );
      } catch {
        /* logging is best effort */
      }
    });
  });

  const ready = {
    pid: process.pid,
    port,
    url: base,
    fulcioURL: base,
    rekorURL: base,
    tsaURL: `${base}/api/v1/timestamp`,
    oidcIssuer,
    tokenURL: `${oidcIssuer}/token`,
    variants: {
      expiredFulcioURL: `${base}/expired`,
      untrustedFulcioURL: `${base}/untrusted`,
      rogueRekorURL: `${base}/rogue`,
      unavailableRekorURL: `${base}/unavailable`,
    },
    trustedRoot: path.resolve(out, 'trusted_root.json'),
    trustedRootCaClosed: path.resolve(out, 'trusted_root_ca_closed.json'),
    oidcSigningKey: path.resolve(out, 'oidc_signing_key.pem'),
    rekorLogId: sha256(rekorSpki).toString('hex'),
    lenient,
    started: started.toISOString(),
    versions: { '@sigstore/mock': depVersion('@sigstore/mock'), node: process.version },
  };
  const tmp = path.join(out, `.ready.json.${process.pid}`);
  writeFileSync(tmp, JSON.stringify(ready, null, 2) + '\n');
  renameSync(tmp, path.join(out, 'ready.json'));
  process.stdout.write(JSON.stringify(ready) + '\n');

  const stop = () => {
    server.close();
    server.closeAllConnections?.();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  if (lifetime > 0) setTimeout(stop, lifetime * 1000).unref();
}

// `token`: mint a token offline with the key a running (or earlier) server wrote to STATE_DIR.
function token(args) {
  const out = args.out || die('--out STATE_DIR is required');
  if (!args.subject) die('--subject is required');
  const key = crypto.createPrivateKey(readFileSync(path.join(out, 'oidc_signing_key.pem')));
  let issuer = args.issuer;
  if (!issuer) {
    try {
      issuer = JSON.parse(readFileSync(path.join(out, 'ready.json'), 'utf8')).oidcIssuer;
    } catch {
      die('--issuer is required when STATE_DIR has no ready.json');
    }
  }
  process.stdout.write(
    mintToken(key, {
      subject: args.subject,
      issuer,
      email: args.email,
      audience: args.audience,
      expiresIn: args['expires-in'],
    }) + '\n'
  );
}

const args = parseArgs(process.argv.slice(2));
const cmd = args._[0] || 'serve';
if (cmd === 'serve') {
  serve(args).catch((e) => {
    process.stderr.write(`mock-sigstore: ${e.stack || e}\n`);
    process.exit(1);
  });
} else if (cmd === 'token') {
  token(args);
} else {
  die(`unknown command ${cmd}: use serve or token`);
}
