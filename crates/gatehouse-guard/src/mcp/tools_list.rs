//! Trimming `tools/list` results to the tools a token may call, in a plain JSON response
//! body and in a Streamable HTTP `text/event-stream` body (where the response arrives as
//! the `data:` of an SSE event). Hiding tools is a courtesy to the model; calls are still
//! checked one by one.

use serde_json::Value;

use super::jsonrpc::{RpcMessage, TOOLS_LIST};

/// The ids of the `tools/list` requests among `messages`: the responses to filter.
pub fn tools_list_ids(messages: &[RpcMessage]) -> Vec<Value> {
    messages
        .iter()
        .filter(|m| m.method.as_deref() == Some(TOOLS_LIST))
        .filter_map(|m| m.id.clone())
        .collect()
}

/// Filters the `result.tools` of every JSON-RPC response in `body` (one object or a batch)
/// whose `id` is one of `list_ids`, keeping the tools for which `may_call(name)` holds.
/// Returns the new body, or `None` when nothing was removed (send the original bytes).
pub fn filter_tools_list_json(
    body: &[u8],
    list_ids: &[Value],
    may_call: &dyn Fn(&str) -> bool,
) -> Option<Vec<u8>> {
    if list_ids.is_empty() {
        return None;
    }
    let mut v: Value = serde_json::from_slice(body).ok()?;
    let changed = match &mut v {
        Value::Array(items) => items
            .iter_mut()
            .fold(false, |c, m| filter_message(m, list_ids, may_call) | c),
        m => filter_message(m, list_ids, may_call),
    };
    if changed {
        serde_json::to_vec(&v).ok()
    } else {
        None
    }
}

fn filter_message(m: &mut Value, ids: &[Value], may_call: &dyn Fn(&str) -> bool) -> bool {
    if !m.get("id").is_some_and(|id| ids.contains(id)) {
        return false;
    }
    let Some(tools) = m.pointer_mut("/result/tools").and_then(Value::as_array_mut) else {
        return false;
    };
    let before = tools.len();
    tools.retain(|t| t.get("name").and_then(Value::as_str).is_some_and(may_call));
    tools.len() != before
}

/// Largest SSE event the filter buffers; a larger one switches the filter to pass-through.
pub const MAX_SSE_EVENT_BYTES: usize = 8 << 20;

/// An incremental filter over a `text/event-stream` body: feed it chunks as they arrive,
/// send on what it returns. Complete events are rewritten when their `data` is a
/// `tools/list` response for one of the given ids (the `data` lines become one line);
/// everything else passes through byte for byte, except that line endings become `\n`.
/// Lines ending in a lone `\r` are not recognised as line ends.
#[derive(Debug)]
pub struct SseToolsListFilter {
    list_ids: Vec<Value>,
    partial: Vec<u8>,
    event: Vec<Vec<u8>>,
    event_bytes: usize,
    passthrough: bool,
}

impl SseToolsListFilter {
    /// A filter for the responses to the `tools/list` requests with these ids.
    pub fn new(list_ids: Vec<Value>) -> Self {
        Self {
            passthrough: list_ids.is_empty(),
            list_ids,
            partial: Vec::new(),
            event: Vec::new(),
            event_bytes: 0,
        }
    }

    /// Feeds a chunk; returns the bytes that may be sent on now.
    pub fn push(&mut self, chunk: &[u8], may_call: &dyn Fn(&str) -> bool) -> Vec<u8> {
        if self.passthrough {
            return chunk.to_vec();
        }
        self.partial.extend_from_slice(chunk);
        let mut out = Vec::new();
        let mut start = 0;
        while let Some(nl) = self.partial[start..].iter().position(|&b| b == b'\n') {
            let mut line = &self.partial[start..start + nl];
            line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                out.extend(self.emit(may_call));
            } else {
                self.event_bytes += line.len();
                self.event.push(line.to_vec());
            }
            start += nl + 1;
        }
        self.partial.drain(..start);
        if self.event_bytes + self.partial.len() > MAX_SSE_EVENT_BYTES {
            self.passthrough = true;
            out.extend(self.raw_event());
            out.append(&mut self.partial);
        }
        out
    }

    /// The end of the stream: whatever was held back (an unterminated event), unchanged.
    pub fn finish(mut self) -> Vec<u8> {
        let mut out = self.raw_event();
        out.append(&mut self.partial);
        out
    }

    fn raw_event(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        for line in self.event.drain(..) {
            out.extend_from_slice(&line);
            out.push(b'\n');
        }
        self.event_bytes = 0;
        out
    }

    /// One complete event, filtered if its data is a matching response, plus the blank line.
    fn emit(&mut self, may_call: &dyn Fn(&str) -> bool) -> Vec<u8> {
        let data: Vec<&[u8]> = self.event.iter().filter_map(|l| data_of(l)).collect();
        let filtered = (!data.is_empty())
            .then(|| filter_tools_list_json(&data.join(&b'\n'), &self.list_ids, may_call))
            .flatten();
        let Some(new_data) = filtered else {
            let mut out = self.raw_event();
            out.push(b'\n');
            return out;
        };
        let mut out = Vec::new();
        let mut data_written = false;
        for line in self.event.drain(..) {
            if data_of(&line).is_none() {
                out.extend_from_slice(&line);
                out.push(b'\n');
            } else if !data_written {
                out.extend_from_slice(b"data: ");
                out.extend_from_slice(&new_data);
                out.push(b'\n');
                data_written = true;
            }
        }
        self.event_bytes = 0;
        out.push(b'\n');
        out
    }
}

/// The value of a `data` field line (one leading space removed), per the SSE spec.
fn data_of(line: &[u8]) -> Option<&[u8]> {
    let rest = line.strip_prefix(b"data")?;
    if rest.is_empty() {
        return Some(rest);
    }
    let value = rest.strip_prefix(b":")?;
    Some(value.strip_prefix(b" ").unwrap_or(value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn readable(t: &str) -> bool {
        t != "add_todo"
    }

    const LIST: &str = r#"{"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"list_todos","inputSchema":{}},{"name":"add_todo","inputSchema":{}},{"title":"nameless"}]}}"#;

    fn names(body: &[u8]) -> Vec<String> {
        let v: Value = serde_json::from_slice(body).unwrap();
        v["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn json_tools_list_keeps_only_callable_tools() {
        let ids = [json!(2)];
        let (other, stringy) = ([json!(3)], [json!("2")]);
        type Case<'a> = (String, &'a [Value], Option<Vec<&'a str>>);
        let cases: Vec<Case<'_>> = vec![
            (LIST.into(), &ids, Some(vec!["list_todos"])),
            (LIST.into(), &other, None),   // another request's response
            (LIST.into(), &stringy, None), // ids compare by JSON value
            (LIST.into(), &[], None),
            (
                r#"{"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"list_todos"}]}}"#.into(),
                &ids,
                None, // nothing to remove
            ),
            (
                r#"{"jsonrpc":"2.0","id":2,"error":{"code":-1}}"#.into(),
                &ids,
                None,
            ),
            ("not json".into(), &ids, None),
        ];
        for (body, ids, expected) in cases {
            let got = filter_tools_list_json(body.as_bytes(), ids, &readable);
            assert_eq!(
                got.as_deref().map(names),
                expected.map(|v| v.iter().map(|s| s.to_string()).collect()),
                "{body} {ids:?}"
            );
        }
    }

    #[test]
    fn json_batch_filters_only_matching_responses() {
        let batch = format!("[{LIST},{}]", LIST.replace("\"id\":2", "\"id\":9"));
        let out = filter_tools_list_json(batch.as_bytes(), &[json!(2)], &readable).unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v[0]["result"]["tools"].as_array().unwrap().len(), 1);
        assert_eq!(v[1]["result"]["tools"].as_array().unwrap().len(), 3);
    }

    fn run_sse(input: &str, chunk: usize) -> String {
        let mut f = SseToolsListFilter::new(vec![json!(2)]);
        let mut out = Vec::new();
        for c in input.as_bytes().chunks(chunk) {
            out.extend(f.push(c, &readable));
        }
        out.extend(f.finish());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn sse_tools_list_event_is_filtered_whatever_the_chunking() {
        let input = format!(
            "id: 0\nretry: 3000\ndata:\n\n: keep-alive\n\nevent: message\nid: 1\ndata: {LIST}\n\ndata: {{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{{}}}}\n\n"
        );
        let filtered = LIST.replace(
            r#"[{"name":"list_todos","inputSchema":{}},{"name":"add_todo","inputSchema":{}},{"title":"nameless"}]"#,
            r#"[{"name":"list_todos","inputSchema":{}}]"#,
        );
        let v: Value = serde_json::from_str(&filtered).unwrap();
        let expected = format!(
            "id: 0\nretry: 3000\ndata:\n\n: keep-alive\n\nevent: message\nid: 1\ndata: {}\n\ndata: {{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{{}}}}\n\n",
            serde_json::to_string(&v).unwrap()
        );
        for chunk in [1, 2, 7, 64, 4096] {
            assert_eq!(run_sse(&input, chunk), expected, "chunk size {chunk}");
        }
    }

    #[test]
    fn sse_multiline_data_and_crlf_are_understood() {
        // Split between JSON tokens: the SSE spec joins data lines with "\n".
        let (a, b) = LIST.split_at(LIST.find(",\"result\"").unwrap());
        let input = format!("event: message\r\ndata: {a}\r\ndata:{b}\r\n\r\n");
        let out = run_sse(&input, 5);
        let data = out.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
        assert!(out.starts_with("event: message\n"));
        assert_eq!(names(data.as_bytes()), ["list_todos"]);
    }

    #[test]
    fn sse_unterminated_event_passes_unchanged_at_the_end() {
        let input = format!("data: {LIST}");
        assert_eq!(run_sse(&input, 3), input);
    }

    #[test]
    fn sse_without_list_ids_is_pass_through() {
        let mut f = SseToolsListFilter::new(vec![]);
        let input = format!("data: {LIST}\n\n");
        assert_eq!(f.push(input.as_bytes(), &readable), input.as_bytes());
    }
}
