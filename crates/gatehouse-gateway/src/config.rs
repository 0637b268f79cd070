//! What a gateway protects and how: the guard's configuration (resource, issuer, scopes,
//! origins), the upstream, and [`GatewayOptions`] (timeouts, limits), each documented with its
//! default. [`GatewayConfig::validate`] reports every problem at once.

use std::time::Duration;

use gatehouse_guard::GuardConfig;

/// The MCP server behind the gateway.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Upstream {
    /// A Streamable HTTP MCP server, e.g. `http://127.0.0.1:3000/mcp`. Requests to the
    /// resource's path (and below it) go to this URL (and below it).
    Http(String),
    /// A stdio MCP server: one child process per MCP session.
    Stdio(StdioCommand),
}

impl Upstream {
    /// How logs and error bodies name the upstream: the URL, or the command line.
    pub fn label(&self) -> String {
        match self {
            Self::Http(url) => url.clone(),
            Self::Stdio(c) => c.to_string(),
        }
    }
}

/// A program and its arguments, run without a shell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StdioCommand {
    /// The program (looked up on `PATH` if it has no `/`).
    pub program: String,
    /// Its arguments.
    pub args: Vec<String>,
}

impl StdioCommand {
    /// Splits `line` into words like a POSIX shell would (quotes and backslashes), without
    /// expanding anything: `"npx -y @modelcontextprotocol/server-everything"`. The command
    /// is then run directly, never through a shell.
    pub fn parse(line: &str) -> Result<Self, String> {
        let words = shlex::split(line)
            .ok_or_else(|| format!("{line:?} has an unterminated quote or escape"))?;
        Self::from_argv(words)
    }

    /// A command from its words (`program` first).
    pub fn from_argv(words: Vec<String>) -> Result<Self, String> {
        let mut words = words.into_iter();
        match words.next() {
            Some(program) if !program.is_empty() => Ok(Self {
                program,
                args: words.collect(),
            }),
            _ => Err("the stdio command is empty".into()),
        }
    }
}

impl std::fmt::Display for StdioCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let words =
            std::iter::once(self.program.as_str()).chain(self.args.iter().map(String::as_str));
        match shlex::try_join(words) {
            Ok(line) => f.write_str(&line),
            Err(_) => f.write_str(&self.program),
        }
    }
}

/// Timeouts and limits. Every field has a default ([`GatewayOptions::default`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayOptions {
    /// Longest wait for a TCP connection to an HTTP upstream. Default 5 s. → 504.
    pub connect_timeout: Duration,
    /// Longest wait for the upstream's response to start: the response head of an HTTP
    /// upstream, the first message of a stdio server about a request. Default 60 s. → 504.
    /// An open event stream never times out.
    pub first_byte_timeout: Duration,
    /// Believe `X-Forwarded-For`/`Forwarded` for the client address and
    /// `X-Forwarded-Proto` for the scheme (only behind a proxy that sets them). Default false.
    pub behind_proxy: bool,
    /// Largest JSON-RPC POST body read to judge tool scopes. Default 1 MiB (→ 413).
    pub max_body_bytes: usize,
    /// Largest `tools/list` JSON response buffered to filter it. Default 8 MiB (→ 502).
    pub max_tools_list_bytes: usize,
    /// A stdio session without requests for this long is ended (its process killed).
    /// Default 30 min. An open `GET` event stream keeps a session alive.
    pub session_idle_timeout: Duration,
    /// Most stdio sessions (processes) one user (subject and client) may hold; a new
    /// `initialize` beyond it ends that user's least recently used session. Default 8.
    pub max_sessions_per_user: usize,
    /// Most stdio sessions (processes) in all; beyond it `initialize` gets 503. Default 256.
    pub max_sessions: usize,
    /// How long a connection's task keeps the worker polling for its next event (the
    /// upstream's answer, the client's next request) before the worker may sleep; zero
    /// never polls. Default 200 µs. Waking a sleeping thread costs far more on a VM than
    /// the syscalls of a short poll: at one connection this took 20–45 µs off the median
    /// latency the gateway adds, at the cost of up to this much CPU after each event, which
    /// in front of a slow upstream is most of them (bench/analysis.md). Lower it, or set
    /// zero, where CPU is scarcer than latency.
    pub busy_poll: Duration,
    /// How long a stdio server may take to exit after its stdin is closed before it is
    /// killed. Default 2 s.
    pub stdio_exit_grace: Duration,
}

impl Default for GatewayOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            first_byte_timeout: Duration::from_secs(60),
            behind_proxy: false,
            max_body_bytes: 1 << 20,
            max_tools_list_bytes: 8 << 20,
            session_idle_timeout: Duration::from_secs(30 * 60),
            max_sessions_per_user: 8,
            max_sessions: 256,
            busy_poll: Duration::from_micros(200),
            stdio_exit_grace: Duration::from_secs(2),
        }
    }
}

/// Everything a [`crate::Gateway`] needs.
#[derive(Clone, Debug)]
pub struct GatewayConfig {
    /// The guard: resource, issuer, scopes, tool scopes, origins.
    pub guard: GuardConfig,
    /// The MCP server behind the gateway.
    pub upstream: Upstream,
    /// Timeouts and limits.
    pub options: GatewayOptions,
}

/// Every problem found in a gateway configuration.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid gateway configuration: {}", .problems.join("; "))]
pub struct ConfigError {
    /// One sentence per problem.
    pub problems: Vec<String>,
}

impl GatewayConfig {
    /// A configuration with default options.
    pub fn new(guard: GuardConfig, upstream: Upstream) -> Self {
        Self {
            guard,
            upstream,
            options: GatewayOptions::default(),
        }
    }

    /// Every problem at once.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut p = Vec::new();
        if let Upstream::Http(u) = &self.upstream {
            check_http_upstream(u, &mut p);
        }
        let o = &self.options;
        for (name, d) in [
            ("connect_timeout", o.connect_timeout),
            ("first_byte_timeout", o.first_byte_timeout),
            ("session_idle_timeout", o.session_idle_timeout),
        ] {
            if d.is_zero() {
                p.push(format!("{name} must be positive"));
            }
        }
        for (name, n) in [
            ("max_body_bytes", o.max_body_bytes),
            ("max_tools_list_bytes", o.max_tools_list_bytes),
            ("max_sessions_per_user", o.max_sessions_per_user),
            ("max_sessions", o.max_sessions),
        ] {
            if n == 0 {
                p.push(format!("{name} must be positive"));
            }
        }
        if p.is_empty() {
            Ok(())
        } else {
            Err(ConfigError { problems: p })
        }
    }
}

fn check_http_upstream(u: &str, p: &mut Vec<String>) {
    match url::Url::parse(u) {
        Ok(url) if url.scheme() != "http" => p.push(format!(
            "upstream {u:?} must be an http:// URL (the gateway talks to its MCP server over a private link; put TLS on the gateway's listener)"
        )),
        Ok(url) if url.host_str().is_none() => p.push(format!("upstream {u:?} has no host")),
        Ok(url) if url.query().is_some() || url.fragment().is_some() => {
            p.push(format!("upstream {u:?} must not have a query or fragment"))
        }
        Ok(url) if !url.username().is_empty() || url.password().is_some() => {
            p.push(format!("upstream {u:?} must not carry credentials"))
        }
        Ok(_) => {}
        Err(e) => p.push(format!("upstream {u:?} is not a URL: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdio_commands_split_like_a_shell_without_one() {
        let cases: &[(&str, Result<&[&str], ()>)] = &[
            (
                "npx -y @modelcontextprotocol/server-everything",
                Ok(&["npx", "-y", "@modelcontextprotocol/server-everything"]),
            ),
            (
                "gatehouse demo-server --stdio",
                Ok(&["gatehouse", "demo-server", "--stdio"]),
            ),
            (
                r#"python3 -c "print('a b')""#,
                Ok(&["python3", "-c", "print('a b')"]),
            ),
            (
                r"my\ server --x='$HOME;rm'",
                Ok(&["my server", "--x=$HOME;rm"]),
            ),
            ("", Err(())),
            ("   ", Err(())),
            ("\"unterminated", Err(())),
        ];
        for (line, expected) in cases {
            let got = StdioCommand::parse(line)
                .map(|c| std::iter::once(c.program).chain(c.args).collect::<Vec<_>>());
            match expected {
                Ok(words) => assert_eq!(got.unwrap(), *words, "{line}"),
                Err(()) => assert!(got.is_err(), "{line}"),
            }
        }
        let c = StdioCommand::parse("gatehouse demo-server --stdio").unwrap();
        assert_eq!(c.to_string(), "gatehouse demo-server --stdio");
    }

    #[test]
    fn validation_reports_every_problem() {
        let guard = GuardConfig::builder("https://mcp.example.com/mcp", "https://auth.example.com")
            .build()
            .unwrap();
        let mut c = GatewayConfig::new(guard, Upstream::Http("https://10.0.0.1/mcp".into()));
        c.options.first_byte_timeout = Duration::ZERO;
        c.options.max_sessions = 0;
        let e = c.validate().unwrap_err();
        assert_eq!(e.problems.len(), 3, "{e}");
        c.upstream = Upstream::Http("http://127.0.0.1:3000/mcp".into());
        c.options = GatewayOptions::default();
        assert!(c.validate().is_ok());
    }
}
