//! Scope hierarchies: MCP 2026-07-28 › Scope Challenge Handling makes servers honour them,
//! so a token holding `todo:write` may call a tool that needs `todo:read` when the operator
//! says `todo:write` implies `todo:read`.

use std::collections::BTreeMap;

use gatehouse_oauth::scope::ScopeSet;

/// Which scopes imply which others. Implication is transitive; cycles are harmless.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScopeHierarchy {
    implies: BTreeMap<String, Vec<String>>,
}

impl ScopeHierarchy {
    /// An empty hierarchy: every scope stands for itself only.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that holding `scope` also grants each of `implied`.
    pub fn imply<I, S>(&mut self, scope: &str, implied: I)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let entry = self.implies.entry(scope.to_owned()).or_default();
        for s in implied {
            let s = s.as_ref();
            if s != scope && !entry.iter().any(|e| e == s) {
                entry.push(s.to_owned());
            }
        }
    }

    /// The granted scopes plus everything they imply, transitively.
    pub fn expand(&self, granted: &ScopeSet) -> ScopeSet {
        let mut out = granted.clone();
        let mut queue: Vec<String> = granted.iter().map(str::to_owned).collect();
        while let Some(scope) = queue.pop() {
            for implied in self.implies.get(&scope).into_iter().flatten() {
                if !out.contains(implied) {
                    out.insert(implied);
                    queue.push(implied.clone());
                }
            }
        }
        out
    }

    /// The scopes of `required` that `granted` does not cover, hierarchy applied.
    pub fn missing(&self, granted: &ScopeSet, required: &ScopeSet) -> ScopeSet {
        if required.is_subset_of(granted) {
            return ScopeSet::default();
        }
        let effective = self.expand(granted);
        ScopeSet::from_tokens(required.missing_from(&effective))
    }

    /// Whether `granted` covers every scope of `required`, hierarchy applied.
    pub fn satisfies(&self, granted: &ScopeSet, required: &ScopeSet) -> bool {
        self.missing(granted, required).is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(s: &str) -> ScopeSet {
        ScopeSet::parse(s).unwrap()
    }

    fn hierarchy() -> ScopeHierarchy {
        let mut h = ScopeHierarchy::new();
        h.imply("todo:admin", ["todo:write"]);
        h.imply("todo:write", ["todo:read"]);
        h.imply("a", ["b"]);
        h.imply("b", ["a"]); // a cycle must not loop
        h
    }

    #[test]
    fn hierarchy_grants_implied_scopes_transitively_and_nothing_else() {
        let h = hierarchy();
        let cases: &[(&str, &str, &str)] = &[
            // (granted, required, missing)
            ("todo:read", "todo:read", ""),
            ("todo:write", "todo:read", ""),
            ("todo:admin", "todo:read todo:write", ""),
            ("todo:read", "todo:write", "todo:write"),
            ("todo:write", "todo:admin", "todo:admin"),
            ("", "todo:read", "todo:read"),
            ("a", "b", ""),
            ("b", "a", ""),
            ("todo:write", "todo:read notes:read", "notes:read"),
            ("Todo:Write", "todo:read", "todo:read"), // case-sensitive
            ("anything", "", ""),
        ];
        for (granted, required, missing) in cases {
            let got = h.missing(&set(granted), &set(required));
            assert_eq!(got.to_string(), *missing, "{granted} ⊢ {required}");
            assert_eq!(
                h.satisfies(&set(granted), &set(required)),
                missing.is_empty()
            );
        }
    }

    #[test]
    fn expand_keeps_granted_order_then_implied() {
        let h = hierarchy();
        assert_eq!(
            h.expand(&set("todo:admin x")).to_string(),
            "todo:admin x todo:write todo:read"
        );
    }
}
