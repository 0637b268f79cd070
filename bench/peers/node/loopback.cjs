// Preload for servers that call listen(port) without a host (the MCP SDK examples): bind
// them to 127.0.0.1 so the benchmark never listens on other interfaces.
const net = require('node:net');
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function patched(...args) {
  const [first] = args;
  const portOnly = typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first));
  if (portOnly && (args.length === 1 || typeof args[1] === 'function')) {
    args.splice(1, 0, '127.0.0.1');
  } else if (first && typeof first === 'object' && first.port !== undefined && !first.host) {
    args[0] = { ...first, host: '127.0.0.1' };
  }
  return listen.apply(this, args);
};
