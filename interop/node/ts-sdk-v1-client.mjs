// TypeScript SDK v1 (@modelcontextprotocol/sdk) as an OAuth MCP client of Gatehouse.
// usage: node ts-sdk-v1-client.mjs <mcp-url> [redirect-uri]   (see ts-client-lib.mjs)
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { main } from './ts-client-lib.mjs';

await main(
  {
    Client,
    StreamableHTTPClientTransport,
    UnauthorizedError,
    // v1 takes the code only (it does not check RFC 9207 `iss` itself).
    finishAuth: (transport, callback) => transport.finishAuth(callback.searchParams.get('code')),
  },
  { label: 'ts-sdk-v1' },
);
