// A TypeScript SDK (v1, @modelcontextprotocol/sdk) MCP server that accepts Gatehouse access
// tokens, checked by its own JWT verifier (jose): signature against the environment's JWKS,
// `iss`, `aud` (this server's URL, as registered with `gatehouse resource add --url`), `typ`,
// expiry, and the SDK's bearer middleware for scopes and the resource. No Gatehouse code.
//
//   node ts-sdk-server.mjs --issuer http://127.0.0.1:8080 --url http://127.0.0.1:8001/mcp
//
// The README snippet is the part between the markers.
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: { issuer: { type: 'string' }, url: { type: 'string' }, scope: { type: 'string', default: 'notes:read' } },
});
const ISSUER = args.issuer;
const MCP_URL = args.url;
const SCOPE = args.scope;

// --- README snippet: TypeScript SDK ---------------------------------------------------------
import express from 'express';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js';
import { InvalidTokenError } from '@modelcontextprotocol/sdk/server/auth/errors.js';
import { getOAuthProtectedResourceMetadataUrl } from '@modelcontextprotocol/sdk/server/auth/router.js';

// const ISSUER = 'https://auth.example.com';        // the Gatehouse environment's issuer
// const MCP_URL = 'https://notes.example.com/mcp';  // `gatehouse resource add --url`: the tokens' aud
const jwks = createRemoteJWKSet(new URL(`${ISSUER}/jwks.json`)); // the issuer metadata's jwks_uri

const verifier = {
  async verifyAccessToken(token) {
    const { payload } = await jwtVerify(token, jwks, {
      issuer: ISSUER,
      audience: MCP_URL,
      algorithms: ['ES256'],
      typ: 'at+jwt', // RFC 9068 access tokens
    }).catch((e) => {
      throw new InvalidTokenError(e.message);
    });
    return {
      token,
      clientId: payload.client_id,
      scopes: String(payload.scope ?? '').split(' ').filter(Boolean),
      expiresAt: payload.exp,
      resource: new URL(MCP_URL),
      extra: { sub: payload.sub, iss: payload.iss, aud: payload.aud },
    };
  },
};

const app = express();
app.use(express.json());
// RFC 9728 Protected Resource Metadata: where MCP clients find the authorization server.
app.get(new URL(getOAuthProtectedResourceMetadataUrl(new URL(MCP_URL))).pathname, (_req, res) =>
  res.json({ resource: MCP_URL, authorization_servers: [ISSUER], scopes_supported: [SCOPE], bearer_methods_supported: ['header'] }),
);
const bearer = requireBearerAuth({
  verifier,
  requiredScopes: [SCOPE],
  resourceMetadataUrl: getOAuthProtectedResourceMetadataUrl(new URL(MCP_URL)),
  expectedResource: new URL(MCP_URL),
});

function notesServer() {
  const server = new McpServer({ name: 'notes-ts', version: '1.0.0' });
  server.registerTool('whoami', { description: 'The verified token identity.' }, async (extra) => ({
    content: [{
      type: 'text',
      text: JSON.stringify({ ...extra.authInfo.extra, client_id: extra.authInfo.clientId, scopes: extra.authInfo.scopes, verified_by: 'jose.jwtVerify' }),
    }],
  }));
  return server;
}

app.all(new URL(MCP_URL).pathname, bearer, async (req, res) => {
  // Stateless Streamable HTTP: one server and transport per request.
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
  res.on('close', () => transport.close());
  await notesServer().connect(transport);
  await transport.handleRequest(req, res, req.body);
});
// --- end of snippet -------------------------------------------------------------------------

const { hostname, port } = new URL(MCP_URL);
app.listen(Number(port), hostname, () => console.log(`TS SDK MCP server on ${MCP_URL}`));
