//! Trimming `tools/list` results to the tools a token may call, in a plain JSON response
//! body and in a Streamable HTTP `text/event-stream` body (where the response arrives as
//! the `data:` of an SSE event). Hiding tools is a courtesy to the model; calls are still
//! checked one by one.
//!
//! Nothing is rebuilt: a response is read only as far as its `id`, `result.tools` and each
//! tool's `name` (the rest is skipped, unparsed), and the output is the original bytes with
//! the `tools` array replaced by the kept entries, byte for byte as the server wrote them.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::jsonrpc::{RpcMessage, TOOLS_LIST};

/// The ids of the `tools/list` requests among `messages`: the responses to filter.
pub fn tools_list_ids(messages: &[RpcMessage]) -> Vec<Value> {
    messages
        .iter()
        .filter(|m| m.method.as_deref() == Some(TOOLS_LIST))
        .filter_map(|m| m.id.clone())
        .collect()
}

/// A JSON-RPC message, as far as the filter reads it.
#[derive(Deserialize)]
struct Message<'a> {
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    #[serde(borrow)]
    result: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct ListResult<'a> {
    #[serde(borrow)]
    tools: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Tool<'a> {
    #[serde(borrow)]
    name: Option<Cow<'a, str>>,
}

/// Filters the `result.tools` of every JSON-RPC response in `body` (one object or a batch)
/// whose `id` is one of `list_ids`, keeping the tools for which `may_call(name)` holds (a
/// tool without a string `name` is dropped). Returns the new body, or `None` when nothing
/// was removed (send the original bytes).
pub fn filter_tools_list_json(
    body: &[u8],
    list_ids: &[Value],
    may_call: &dyn Fn(&str) -> bool,
) -> Option<Vec<u8>> {
    filter(body, list_ids, may_call, &mut |_| {})
}

/// [`filter_tools_list_json`], also telling `answered` the index in `list_ids` of every
/// response found (filtered or not).
fn filter(
    body: &[u8],
    list_ids: &[Value],
    may_call: &dyn Fn(&str) -> bool,
    answered: &mut dyn FnMut(usize),
) -> Option<Vec<u8>> {
    if list_ids.is_empty() {
        return None;
    }
    let first = body.iter().find(|b| !b.is_ascii_whitespace())?;
    let messages: Vec<Message<'_>> = if *first == b'[' {
        serde_json::from_slice(body).ok()?
    } else {
        vec![serde_json::from_slice(body).ok()?]
    };
    // (start, end, replacement) of each `tools` array to rewrite, in order.
    let mut edits: Vec<(usize, usize, Vec<u8>)> = Vec::new();
    for m in &messages {
        let (Some(id), Some(result)) = (m.id, m.result) else {
            continue;
        };
        let Some(index) = serde_json::from_str::<Value>(id.get())
            .ok()
            .and_then(|id| list_ids.iter().position(|l| *l == id))
        else {
            continue;
        };
        answered(index);
        let Some(tools) = serde_json::from_str::<ListResult<'_>>(result.get())
            .ok()
            .and_then(|r| r.tools)
        else {
            continue;
        };
        let Ok(entries) = serde_json::from_str::<Vec<&RawValue>>(tools.get()) else {
            continue;
        };
        let kept: Vec<&str> = entries
            .iter()
            .map(|t| t.get())
            .filter(|t| {
                serde_json::from_str::<Tool<'_>>(t)
                    .ok()
                    .and_then(|t| t.name)
                    .is_some_and(|n| may_call(&n))
            })
            .collect();
        if kept.len() == entries.len() {
            continue;
        }
        let Some(start) = offset_in(body, tools.get()) else {
            continue;
        };
        let mut replacement = Vec::with_capacity(tools.get().len());
        replacement.push(b'[');
        for (i, t) in kept.iter().enumerate() {
            if i > 0 {
                replacement.push(b',');
            }
            replacement.extend_from_slice(t.as_bytes());
        }
        replacement.push(b']');
        edits.push((start, start + tools.get().len(), replacement));
    }
    if edits.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(body.len());
    let mut at = 0;
    for (start, end, replacement) in edits {
        out.extend_from_slice(&body[at..start]);
        out.extend_from_slice(&replacement);
        at = end;
    }
    out.extend_from_slice(&body[at..]);
    Some(out)
}

/// Where `part` (a slice the parser borrowed from `whole`) starts in `whole`.
fn offset_in(whole: &[u8], part: &str) -> Option<usize> {
    let start = (part.as_ptr() as usize).checked_sub(whole.as_ptr() as usize)?;
    (start + part.len() <= whole.len() && whole[start..].starts_with(part.as_bytes()))
        .then_some(start)
}

/// Largest SSE event the filter buffers; a larger one switches the filter to pass-through.
pub const MAX_SSE_EVENT_BYTES: usize = 8 << 20;

/// An incremental filter over a `text/event-stream` body: feed it chunks as they arrive,
/// send on what it returns. Complete events are rewritten when their `data` is a
/// `tools/list` response for one of the given ids (the `data` lines become one line);
/// everything else passes through byte for byte, except that line endings become `\n`.
/// Lines ending in a lone `\r` are not recognised as line ends.
///
/// Only events whose data mentions `"tools"` are parsed at all, and once every id has been
/// answered the filter passes the rest of the stream through untouched
/// ([`SseToolsListFilter::is_passthrough`]).
#[derive(Debug)]
pub struct SseToolsListFilter {
    list_ids: Vec<Value>,
    answered: Vec<bool>,
    /// The current line, not yet ended.
    partial: Vec<u8>,
    /// The lines of the current event so far, each ended by `\n`.
    event: Vec<u8>,
    passthrough: bool,
}

impl SseToolsListFilter {
    /// A filter for the responses to the `tools/list` requests with these ids.
    pub fn new(list_ids: Vec<Value>) -> Self {
        Self {
            passthrough: list_ids.is_empty(),
            answered: vec![false; list_ids.len()],
            list_ids,
            partial: Vec::new(),
            event: Vec::new(),
        }
    }

    /// Whether the filter has nothing left to do: every chunk from now on comes back
    /// unchanged, so a caller may forward chunks without [`SseToolsListFilter::push`].
    pub fn is_passthrough(&self) -> bool {
        self.passthrough && self.partial.is_empty() && self.event.is_empty()
    }

    /// Feeds a chunk; returns the bytes that may be sent on now.
    pub fn push(&mut self, chunk: &[u8], may_call: &dyn Fn(&str) -> bool) -> Vec<u8> {
        if self.is_passthrough() {
            return chunk.to_vec();
        }
        let mut out = Vec::new();
        if self.passthrough {
            // Switched mid-event: what was held back goes first, unchanged.
            out.append(&mut self.event);
            out.append(&mut self.partial);
            out.extend_from_slice(chunk);
            return out;
        }
        self.partial.extend_from_slice(chunk);
        let mut start = 0;
        while let Some(nl) = self.partial[start..].iter().position(|&b| b == b'\n') {
            let mut line = &self.partial[start..start + nl];
            line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                self.emit(may_call, &mut out);
            } else {
                self.event.extend_from_slice(line);
                self.event.push(b'\n');
            }
            start += nl + 1;
            if self.passthrough {
                // Every id is answered: the rest of this chunk goes as it is.
                out.extend_from_slice(&self.partial[start..]);
                self.partial.clear();
                return out;
            }
        }
        self.partial.drain(..start);
        if self.event.len() + self.partial.len() > MAX_SSE_EVENT_BYTES {
            self.passthrough = true;
            out.append(&mut self.event);
            out.append(&mut self.partial);
        }
        out
    }

    /// The end of the stream: whatever was held back (an unterminated event), unchanged.
    pub fn finish(mut self) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.event);
        out.append(&mut self.partial);
        out
    }

    /// One complete event (its lines in `self.event`), filtered if its data is a matching
    /// response, plus the blank line that ended it.
    fn emit(&mut self, may_call: &dyn Fn(&str) -> bool, out: &mut Vec<u8>) {
        let event = std::mem::take(&mut self.event);
        let lines = || event.split(|&b| b == b'\n').filter(|l| !l.is_empty());
        let mut data: Vec<&[u8]> = lines().filter_map(data_of).collect();
        let mentions_tools = data.iter().any(|d| contains(d, b"\"tools\""));
        let joined: Cow<'_, [u8]> = match data.len() {
            1 => Cow::Borrowed(data.swap_remove(0)),
            _ => Cow::Owned(data.join(&b'\n')),
        };
        let filtered = if mentions_tools {
            let answered = &mut self.answered;
            filter(&joined, &self.list_ids, may_call, &mut |i| {
                answered[i] = true
            })
        } else {
            None
        };
        match filtered {
            None => out.extend_from_slice(&event),
            Some(mut new_data) => {
                // Data split over several lines was joined with `\n`, which in JSON can
                // only be whitespace between tokens; one `data:` line must not contain it.
                for b in &mut new_data {
                    if *b == b'\n' || *b == b'\r' {
                        *b = b' ';
                    }
                }
                let mut data_written = false;
                for line in lines() {
                    if data_of(line).is_none() {
                        out.extend_from_slice(line);
                        out.push(b'\n');
                    } else if !data_written {
                        out.extend_from_slice(b"data: ");
                        out.extend_from_slice(&new_data);
                        out.push(b'\n');
                        data_written = true;
                    }
                }
            }
        }
        out.push(b'\n');
        if mentions_tools && self.answered.iter().all(|a| *a) {
            self.passthrough = true;
        }
        // Keep the allocation for the next event.
        self.event = event;
        self.event.clear();
    }
}

/// Whether `needle` occurs in `hay`.
fn contains(hay: &[u8], needle: &[u8]) -> bool {
    let Some((&first, rest)) = needle.split_first() else {
        return true;
    };
    let mut at = 0;
    while let Some(i) = hay[at..].iter().position(|&b| b == first) {
        let from = at + i + 1;
        if hay[from..].starts_with(rest) {
            return true;
        }
        at = from;
    }
    false
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
    fn json_output_is_the_servers_bytes_with_the_tools_array_replaced() {
        let pretty = "{ \"jsonrpc\": \"2.0\", \"result\": {\"tools\" : [\n  {\"name\": \"add_todo\", \"inputSchema\": {\"properties\": {\"name\": {}}}},\n  {\"inputSchema\": {\"name\": \"add_todo\"}, \"name\": \"list_\\u0074odos\"},\n  {\"name\": \"add_todo\", \"name\": \"list_todos\"},\n  {\"name\": 7}\n], \"nextCursor\": \"c\"}, \"id\": 2 }";
        let out = filter_tools_list_json(pretty.as_bytes(), &[json!(2)], &readable).unwrap();
        // Nested `name`s are not the tool's; a repeated `name` or a non-string one drops the
        // tool; escapes are understood; everything outside the array is untouched.
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{ \"jsonrpc\": \"2.0\", \"result\": {\"tools\" : [{\"inputSchema\": {\"name\": \"add_todo\"}, \"name\": \"list_\\u0074odos\"}], \"nextCursor\": \"c\"}, \"id\": 2 }"
        );
    }

    #[test]
    fn sse_filter_passes_through_once_every_list_is_answered() {
        let mut f = SseToolsListFilter::new(vec![json!(2)]);
        let progress = "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\n\n";
        assert_eq!(f.push(progress.as_bytes(), &readable), progress.as_bytes());
        assert!(!f.is_passthrough());
        let out = f.push(
            format!("data: {LIST}\n\ndata: {LIST}").as_bytes(),
            &readable,
        );
        assert!(f.is_passthrough());
        let out = String::from_utf8(out).unwrap();
        let (first, rest) = out.split_once("\n\n").unwrap();
        assert!(!first.contains("add_todo"), "{first}");
        assert_eq!(rest, format!("data: {LIST}"), "later events pass unchanged");
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
        // The tools array is rewritten; every other byte is the server's.
        let expected = format!(
            "id: 0\nretry: 3000\ndata:\n\n: keep-alive\n\nevent: message\nid: 1\ndata: {filtered}\n\ndata: {{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{{}}}}\n\n"
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
