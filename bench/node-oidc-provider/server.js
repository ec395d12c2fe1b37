// node-oidc-provider configured like authserver's client_credentials grant:
// RS256 JWT access tokens (RFC 9068) for one confidential client, signed
// with an RSA-2048 key. The comparison target of authbench; see
// docs/performance.md.
//
// Environment:
//   PORT           port on 127.0.0.1 (required)
//   CLIENT_ID      the confidential client (default authbench-svc)
//   CLIENT_SECRET  its secret (required; sent with HTTP Basic)
//   RESOURCE       the resource indicator of the API (default urn:authbench:api);
//                  JWT access tokens need resourceIndicators, so clients send
//                  resource=RESOURCE with every token request
//   WORKERS        1 (default): one process; N > 1: node:cluster with N
//                  workers sharing the port, the primary only supervising
import cluster from 'node:cluster';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import process from 'node:process';

import Provider, { errors } from 'oidc-provider';

const port = Number(process.env.PORT);
const clientId = process.env.CLIENT_ID || 'authbench-svc';
const clientSecret = process.env.CLIENT_SECRET;
const resource = process.env.RESOURCE || 'urn:authbench:api';
const workers = Number(process.env.WORKERS || '1');

if (!port || !clientSecret || !(workers >= 1)) {
  console.error('server.js: set PORT and CLIENT_SECRET (and WORKERS >= 1)');
  process.exit(2);
}

// Every worker must sign with the same key, so the primary makes it and
// hands it down.
function signingKey() {
  if (process.env.SIGNING_JWK) {
    return JSON.parse(process.env.SIGNING_JWK);
  }
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: 'authbench-1', alg: 'RS256', use: 'sig' };
}

function serve(jwk) {
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: [{
      client_id: clientId,
      client_secret: clientSecret,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: 'bench',
    }],
    jwks: { keys: [jwk] },
    cookies: { keys: [randomBytes(32).toString('base64url')] }, // unused by this grant
    scopes: ['bench'],
    ttl: { ClientCredentials: 900 },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        getResourceServerInfo(ctx, indicator) {
          if (indicator !== resource) {
            throw new errors.InvalidTarget();
          }
          return {
            scope: 'bench',
            audience: resource,
            accessTokenTTL: 900,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
  });
  provider.listen(port, '127.0.0.1', () => {
    console.log(`node-oidc-provider ${issuer} pid ${process.pid}`);
  });
  // A cluster worker goes when its primary does.
  process.on('disconnect', () => process.exit(0));
}

if (workers > 1 && cluster.isPrimary) {
  process.env.SIGNING_JWK = JSON.stringify(signingKey());
  for (let i = 0; i < workers; i++) {
    cluster.fork();
  }
  const stop = () => {
    for (const w of Object.values(cluster.workers)) {
      w.kill('SIGTERM');
    }
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  console.log(`node-oidc-provider primary pid ${process.pid}, ${workers} workers`);
} else {
  serve(signingKey());
}
