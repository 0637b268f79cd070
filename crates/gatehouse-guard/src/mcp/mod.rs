//! MCP-aware helpers shared by the guard and the gateway: reading which tools a JSON-RPC
//! body calls, deciding the scopes a call needs, and trimming `tools/list` results to the
//! tools a token may call.
//!
//! Nothing here does I/O; every function works on bytes already in memory.

mod jsonrpc;
mod policy;
mod tools_list;

pub use jsonrpc::{RpcMessage, RpcParseError, TOOLS_CALL, TOOLS_LIST, parse_body};
pub use policy::ToolPolicy;
pub use tools_list::{
    MAX_SSE_EVENT_BYTES, SseToolsListFilter, filter_tools_list_json, tools_list_ids,
};
