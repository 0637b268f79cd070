//! Reading JSON-RPC 2.0 request bodies (one message or a batch) just far enough to know the
//! method of each message and, for `tools/call`, the tool's name.
//!
//! Parser differentials are the risk here: if the guard read one tool name and the MCP
//! server another, a token could call a tool it has no scope for. So a message that repeats
//! `method`, `params` or `params.name` is refused rather than resolved (serde_json keeps the
//! last duplicate, other parsers the first), and a `method` or tool name that is not a
//! string is refused too.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// The MCP method that invokes a tool.
pub const TOOLS_CALL: &str = "tools/call";
/// The MCP method that lists tools.
pub const TOOLS_LIST: &str = "tools/list";

/// What the guard needs to know about one JSON-RPC message.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RpcMessage {
    /// The method; `None` for a response (a client answering a server request).
    pub method: Option<String>,
    /// The id; `None` for a notification or a message without one.
    pub id: Option<Value>,
    /// `params.name` when `params` is an object with a string `name` (the tool of `tools/call`).
    pub name: Option<String>,
}

impl RpcMessage {
    /// The tool this message calls, if it is a `tools/call` request.
    pub fn tool(&self) -> Option<&str> {
        match self.method.as_deref() {
            Some(TOOLS_CALL) => self.name.as_deref(),
            _ => None,
        }
    }

    /// Whether this message is a `tools/call` (with or without a usable name).
    pub fn is_tool_call(&self) -> bool {
        self.method.as_deref() == Some(TOOLS_CALL)
    }
}

/// Why a body is not a JSON-RPC message or batch the guard can judge.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a JSON-RPC request body: {0}")]
pub struct RpcParseError(String);

/// Parses a JSON-RPC body: one message object, or a non-empty array of them (a batch).
pub fn parse_body(body: &[u8]) -> Result<Vec<RpcMessage>, RpcParseError> {
    let parsed: Body = serde_json::from_slice(body).map_err(|e| RpcParseError(e.to_string()))?;
    match parsed {
        Body::Batch(b) if b.is_empty() => Err(RpcParseError("empty batch".into())),
        Body::Batch(b) => Ok(b),
        Body::Single(m) => Ok(vec![m]),
    }
}

enum Body {
    Single(RpcMessage),
    Batch(Vec<RpcMessage>),
}

impl<'de> Deserialize<'de> for Body {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Body;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON-RPC message or batch")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Body, A::Error> {
                MessageVisitor.visit_map(map).map(Body::Single)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Body, A::Error> {
                let mut out = Vec::new();
                while let Some(m) = seq.next_element::<Message>()? {
                    out.push(m.0);
                }
                Ok(Body::Batch(out))
            }
        }
        d.deserialize_any(V)
    }
}

struct Message(RpcMessage);

impl<'de> Deserialize<'de> for Message {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(MessageVisitor).map(Message)
    }
}

/// Keys are compared after JSON unescaping (`"meth\u006fd"` is `method`), as every parser does.
fn key<'de, A: MapAccess<'de>>(map: &mut A) -> Result<Option<String>, A::Error> {
    map.next_key::<String>()
}

fn once<T, E: de::Error>(slot: &mut Option<T>, value: T, field: &str) -> Result<(), E> {
    if slot.is_some() {
        return Err(E::custom(format!("duplicate {field:?}")));
    }
    *slot = Some(value);
    Ok(())
}

struct MessageVisitor;

impl<'de> Visitor<'de> for MessageVisitor {
    type Value = RpcMessage;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON-RPC message object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RpcMessage, A::Error> {
        let mut msg = RpcMessage::default();
        let mut params: Option<Option<String>> = None;
        while let Some(k) = key(&mut map)? {
            match k.as_str() {
                "method" => once(&mut msg.method, map.next_value::<String>()?, "method")?,
                "id" => once(&mut msg.id, map.next_value::<Value>()?, "id")?,
                "params" => once(&mut params, map.next_value::<Params>()?.0, "params")?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        msg.name = params.flatten();
        Ok(msg)
    }
}

/// `params.name`, if `params` is an object with a `name`; by-position params carry no name.
struct Params(Option<String>);

impl<'de> Deserialize<'de> for Params {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Params;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("JSON-RPC params")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Params, A::Error> {
                let mut name = None;
                while let Some(k) = key(&mut map)? {
                    if k == "name" {
                        once(&mut name, map.next_value::<String>()?, "params.name")?;
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(Params(name))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Params, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Params(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Params, E> {
                Ok(Params(None))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    type Pair = (Option<String>, Option<String>);

    fn pairs(body: &str) -> Result<Vec<Pair>, ()> {
        parse_body(body.as_bytes())
            .map(|v| {
                v.into_iter()
                    .map(|m| (m.method.clone(), m.tool().map(str::to_owned)))
                    .collect()
            })
            .map_err(|_| ())
    }

    fn p(method: Option<&str>, tool: Option<&str>) -> (Option<String>, Option<String>) {
        (method.map(str::to_owned), tool.map(str::to_owned))
    }

    #[test]
    fn bodies_parse_into_method_and_tool_pairs() {
        let call = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add_todo","arguments":{"name":"x"}}}"#;
        let cases: Vec<(&str, Result<Vec<_>, ()>)> = vec![
            (call, Ok(vec![p(Some("tools/call"), Some("add_todo"))])),
            (
                r#"{"params":{"name":"t"},"method":"tools/call","id":"a"}"#,
                Ok(vec![p(Some("tools/call"), Some("t"))]),
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
                Ok(vec![p(Some("tools/list"), None)]),
            ),
            (
                r#"{"jsonrpc":"2.0","method":"prompts/get","params":{"name":"p"}}"#,
                Ok(vec![p(Some("prompts/get"), None)]),
            ),
            (
                r#"{"jsonrpc":"2.0","id":3,"result":{}}"#,
                Ok(vec![p(None, None)]),
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":["add_todo"]}"#,
                Ok(vec![p(Some("tools/call"), None)]),
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":null}"#,
                Ok(vec![p(Some("tools/call"), None)]),
            ),
            (
                r#"{"meth\u006fd":"tools/call","params":{"n\u0061me":"add_todo"}}"#,
                Ok(vec![p(Some("tools/call"), Some("add_todo"))]),
            ),
            (
                r#"[{"id":1,"method":"tools/call","params":{"name":"a"}},{"method":"notifications/initialized"},{"id":2,"method":"tools/call","params":{"name":"b"}}]"#,
                Ok(vec![
                    p(Some("tools/call"), Some("a")),
                    p(Some("notifications/initialized"), None),
                    p(Some("tools/call"), Some("b")),
                ]),
            ),
            // Refused: ambiguous or not JSON-RPC.
            (
                r#"{"method":"tools/list","method":"tools/call","params":{"name":"x"}}"#,
                Err(()),
            ),
            (
                r#"{"method":"tools/call","params":{"name":"read","name":"delete"}}"#,
                Err(()),
            ),
            (
                r#"{"method":"tools/call","params":{"name":"a"},"params":{"name":"b"}}"#,
                Err(()),
            ),
            (r#"{"method":"tools/call","params":{"name":7}}"#, Err(())),
            (r#"{"method":7}"#, Err(())),
            ("[]", Err(())),
            ("[1]", Err(())),
            ("\"tools/call\"", Err(())),
            ("", Err(())),
            ("{\"method\":\"tools/call\"", Err(())),
            (r#"{"method":"tools/call"} trailing"#, Err(())),
        ];
        for (body, expected) in cases {
            assert_eq!(pairs(body), expected, "{body}");
        }
    }

    #[test]
    fn ids_are_kept_for_matching_responses() {
        let m = parse_body(br#"{"jsonrpc":"2.0","id":"req-7","method":"tools/list"}"#).unwrap();
        assert_eq!(m[0].id, Some(json!("req-7")));
    }
}
