// TypeScript SDK v2 (@modelcontextprotocol/client) as an OAuth MCP client of Gatehouse.
// usage: node ts-sdk-v2-client.mjs <mcp-url> [redirect-uri]   (see ts-client-lib.mjs)
import { Client, StreamableHTTPClientTransport, UnauthorizedError } from '@modelcontextprotocol/client';
import { main } from './ts-client-lib.mjs';

await main(
  {
    Client,
    StreamableHTTPClientTransport,
    UnauthorizedError,
    // v2 takes the callback's parameters: code, and `iss`, which it checks (RFC 9207).
    finishAuth: (transport, callback) => transport.finishAuth(callback.searchParams),
  },
  { label: 'ts-sdk-v2' },
);
