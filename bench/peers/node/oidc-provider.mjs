// panva/oidc-provider configured for the same work as Gatehouse in bench/run:
// - JWT access tokens signed ES256 (RFC 9068 profile via resource indicators), audience = the MCP server;
// - client_credentials for a confidential client (client_secret_basic);
// - authorization code + PKCE S256 with the dev login/consent interactions, consent remembered
//   in the grant, dynamic client registration (public clients, token_endpoint_auth_method none);
// - refresh tokens issued to clients registered for refresh_token, rotated on every use
//   (reuse of a rotated token revokes the grant: oidc-provider's built-in behaviour);
// - introspection (client authentication required). oidc-provider refuses to introspect JWT
//   access tokens ("Structured JWT Tokens cannot be introspected"), so a second resource,
//   OPAQUE_RESOURCE, gets opaque access tokens, and the introspection scenario uses one of those.
// Storage: oidc-provider's own in-memory adapter with its LRU raised from 1,000 entries to
// 10 million, so sessions and grants are not evicted under load (the default evicts them
// within a second at these rates).
//
// Usage: PORT=7300 RESOURCE=http://127.0.0.1:7200/mcp node oidc-provider.mjs   (127.0.0.1 only)
import * as crypto from 'node:crypto';
import Provider from 'oidc-provider';
import { setStorage } from 'oidc-provider/lib/adapters/memory_adapter.js';
import LRU from 'oidc-provider/lib/helpers/lru.js';

setStorage(new LRU({ maxSize: 10_000_000 }));

const PORT = Number(process.env.PORT || 7300);
const ISSUER = `http://127.0.0.1:${PORT}`;
const RS = process.env.RESOURCE || 'http://127.0.0.1:7200/mcp';
const OPAQUE_RS = process.env.OPAQUE_RESOURCE || 'http://127.0.0.1:7201/opaque';
const SECRET = process.env.CLIENT_SECRET || 'bench-secret';
const REDIRECT = process.env.REDIRECT_URI || 'http://127.0.0.1:9999/cb';

const jwk = (kp, extra) => ({ ...kp.privateKey.export({ format: 'jwk' }), use: 'sig', ...extra });
const keys = [
  jwk(crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }), { kid: 'es256', alg: 'ES256' }),
  jwk(crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }), { kid: 'rs256', alg: 'RS256' }),
];

const provider = new Provider(ISSUER, {
  jwks: { keys },
  clients: [
    {
      client_id: 'cc',
      client_secret: SECRET,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: 'mcp:tools',
    },
    {
      client_id: 'web',
      client_secret: SECRET,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: [REDIRECT],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: 'mcp:tools',
    },
  ],
  scopes: ['openid', 'offline_access', 'mcp:tools'],
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: true },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    registration: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => RS,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource) => (resource === OPAQUE_RS
        ? { scope: 'mcp:tools', audience: OPAQUE_RS, accessTokenTTL: 3600, accessTokenFormat: 'opaque' }
        : {
          scope: 'mcp:tools',
          audience: RS,
          accessTokenTTL: 3600,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'ES256' } },
        }),
    },
  },
  // Same policy as Gatehouse: a client registered for refresh_token gets one, rotated on every use.
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  rotateRefreshToken: true,
});
provider.proxy = false;
provider.listen(PORT, '127.0.0.1', () => {
  console.log(`oidc-provider at ${ISSUER}/.well-known/openid-configuration`);
});
