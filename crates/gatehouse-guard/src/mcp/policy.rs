//! Which scopes an MCP request needs: the scopes every request needs, plus, for each
//! `tools/call` in the body, the scopes of that tool (RS-24), with the scope hierarchy
//! applied when judging a token (MCP 2026-07-28 › Scope Challenge Handling).

use std::collections::BTreeMap;

use gatehouse_oauth::scope::ScopeSet;

use super::jsonrpc::RpcMessage;
use crate::scopes::ScopeHierarchy;

/// The scope rules of one MCP server.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ToolPolicy {
    required: ScopeSet,
    tools: BTreeMap<String, ScopeSet>,
    unlisted: ScopeSet,
    hierarchy: ScopeHierarchy,
}

impl ToolPolicy {
    /// No rules: any valid token may do anything.
    pub fn new() -> Self {
        Self::default()
    }

    /// Scopes every request needs, whatever it does (default: none).
    pub fn require(mut self, scopes: &ScopeSet) -> Self {
        self.required = self.required.union(scopes);
        self
    }

    /// Scopes a `tools/call` of `tool` needs, on top of [`ToolPolicy::require`].
    pub fn tool(mut self, tool: &str, scopes: &ScopeSet) -> Self {
        let entry = self.tools.entry(tool.to_owned()).or_default();
        *entry = entry.union(scopes);
        self
    }

    /// Scopes a `tools/call` of a tool not named by [`ToolPolicy::tool`] needs (default:
    /// none). Set it to deny tools nobody thought about.
    pub fn unlisted_tools(mut self, scopes: &ScopeSet) -> Self {
        self.unlisted = self.unlisted.union(scopes);
        self
    }

    /// The scope hierarchy used to judge tokens (default: none).
    pub fn hierarchy(mut self, hierarchy: ScopeHierarchy) -> Self {
        self.hierarchy = hierarchy;
        self
    }

    /// The scope hierarchy.
    pub fn scope_hierarchy(&self) -> &ScopeHierarchy {
        &self.hierarchy
    }

    /// Scopes every request needs.
    pub fn required(&self) -> &ScopeSet {
        &self.required
    }

    /// Whether a request body must be read to decide: some tool needs more than every
    /// request does.
    pub fn needs_body(&self) -> bool {
        !self.unlisted.is_empty() || self.tools.values().any(|s| !s.is_empty())
    }

    /// The scopes a call of `tool` needs: the request-wide scopes plus the tool's own
    /// (a `tools/call` without a usable name needs what an unlisted tool needs).
    pub fn scopes_for_tool(&self, tool: Option<&str>) -> ScopeSet {
        let own = tool
            .and_then(|t| self.tools.get(t))
            .unwrap_or(&self.unlisted);
        self.required.union(own)
    }

    /// Every scope a request made of `messages` needs (MCP 2026-07-28: one challenge lists
    /// all of them): the request-wide scopes plus those of each `tools/call`.
    pub fn scopes_for(&self, messages: &[RpcMessage]) -> ScopeSet {
        messages
            .iter()
            .filter(|m| m.is_tool_call())
            .fold(self.required.clone(), |acc, m| {
                acc.union(&self.scopes_for_tool(m.tool()))
            })
    }

    /// `Ok` if `granted` covers what `messages` need; otherwise every scope they need.
    pub fn check(&self, granted: &ScopeSet, messages: &[RpcMessage]) -> Result<(), ScopeSet> {
        let needed = self.scopes_for(messages);
        if self.hierarchy.satisfies(granted, &needed) {
            Ok(())
        } else {
            Err(needed)
        }
    }

    /// Whether a token with `granted` may call `tool` (for filtering `tools/list`).
    pub fn may_call(&self, granted: &ScopeSet, tool: &str) -> bool {
        self.hierarchy
            .satisfies(granted, &self.scopes_for_tool(Some(tool)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mcp::parse_body;

    fn set(s: &str) -> ScopeSet {
        ScopeSet::parse(s).unwrap()
    }

    fn policy() -> ToolPolicy {
        let mut h = ScopeHierarchy::new();
        h.imply("todo:write", ["todo:read"]);
        ToolPolicy::new()
            .require(&set("mcp"))
            .tool("list_todos", &set("todo:read"))
            .tool("add_todo", &set("todo:write"))
            .tool("purge", &set("todo:write todo:admin"))
            .hierarchy(h)
    }

    #[test]
    fn policy_decides_scopes_per_call_with_the_hierarchy() {
        let p = policy();
        let call = |t: &str| {
            format!(r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"{t}"}}}}"#)
        };
        let batch = format!("[{},{}]", call("list_todos"), call("purge"));
        let cases: Vec<(String, &str, Result<(), &str>)> = vec![
            // (body, granted, Err(every scope needed))
            (call("list_todos"), "mcp todo:read", Ok(())),
            (call("list_todos"), "mcp todo:write", Ok(())), // hierarchy
            (call("list_todos"), "todo:read", Err("mcp todo:read")),
            (call("add_todo"), "mcp todo:read", Err("mcp todo:write")),
            (
                call("purge"),
                "mcp todo:write",
                Err("mcp todo:write todo:admin"),
            ),
            (call("unknown_tool"), "mcp", Ok(())), // unlisted tools: request-wide only
            (r#"{"id":1,"method":"tools/list"}"#.into(), "mcp", Ok(())),
            (r#"{"id":1,"method":"tools/list"}"#.into(), "", Err("mcp")),
            (
                batch.clone(),
                "mcp todo:read",
                Err("mcp todo:read todo:write todo:admin"),
            ),
            (batch, "mcp todo:write todo:admin", Ok(())),
        ];
        for (body, granted, expected) in cases {
            let msgs = parse_body(body.as_bytes()).unwrap();
            let got = p.check(&set(granted), &msgs).map_err(|s| s.to_string());
            assert_eq!(
                got,
                expected.map_err(str::to_owned),
                "{body} with {granted:?}"
            );
        }
    }

    #[test]
    fn unlisted_tools_can_be_denied_by_default() {
        let p = policy().unlisted_tools(&set("todo:admin"));
        assert!(!p.may_call(&set("mcp todo:write"), "mystery"));
        assert!(p.may_call(&set("mcp todo:admin"), "mystery"));
        assert!(p.may_call(&set("mcp todo:write"), "add_todo"));
        let nameless = parse_body(br#"{"id":1,"method":"tools/call","params":{}}"#).unwrap();
        assert_eq!(
            p.check(&set("mcp"), &nameless).unwrap_err().to_string(),
            "mcp todo:admin"
        );
    }

    #[test]
    fn body_is_read_only_when_some_tool_needs_more() {
        assert!(!ToolPolicy::new().require(&set("mcp")).needs_body());
        assert!(policy().needs_body());
        assert!(ToolPolicy::new().unlisted_tools(&set("x")).needs_body());
    }
}
