//! Form controls: every input has a label, help text and errors are tied to it with
//! `aria-describedby`, and values are escaped.

use crate::pages::esc;

/// A labelled form control.
pub(crate) struct Field<'a> {
    /// `id` and `name`.
    pub(crate) name: &'a str,
    /// Visible label.
    pub(crate) label: &'a str,
    /// Current value.
    pub(crate) value: &'a str,
    /// Help text below the label.
    pub(crate) hint: &'a str,
    /// A validation error for this field.
    pub(crate) error: Option<&'a str>,
    /// `type` of an input, or `textarea`.
    pub(crate) kind: &'a str,
    /// Extra attributes (`required`, `autocomplete="…"`).
    pub(crate) attrs: &'a str,
}

impl<'a> Field<'a> {
    /// A text input.
    pub(crate) fn text(name: &'a str, label: &'a str, value: &'a str) -> Self {
        Self {
            name,
            label,
            value,
            hint: "",
            error: None,
            kind: "text",
            attrs: "",
        }
    }

    /// With help text.
    pub(crate) fn hint(mut self, hint: &'a str) -> Self {
        self.hint = hint;
        self
    }

    /// With an input type (`email`, `password`, `number`, `url`, `textarea`).
    pub(crate) fn kind(mut self, kind: &'a str) -> Self {
        self.kind = kind;
        self
    }

    /// With attributes.
    pub(crate) fn attrs(mut self, attrs: &'a str) -> Self {
        self.attrs = attrs;
        self
    }

    /// With an error.
    pub(crate) fn error(mut self, error: Option<&'a str>) -> Self {
        self.error = error;
        self
    }

    /// The HTML.
    pub(crate) fn html(&self) -> String {
        let id = esc(self.name);
        let mut described = Vec::new();
        let hint = if self.hint.is_empty() {
            String::new()
        } else {
            described.push(format!("{id}-hint"));
            format!("<p class=\"hint\" id=\"{id}-hint\">{}</p>", esc(self.hint))
        };
        let error = self.error.map_or_else(String::new, |e| {
            described.push(format!("{id}-error"));
            format!("<p class=\"field-error\" id=\"{id}-error\">{}</p>", esc(e))
        });
        let mut attrs = self.attrs.to_owned();
        if !described.is_empty() {
            attrs.push_str(&format!(" aria-describedby=\"{}\"", described.join(" ")));
        }
        if self.error.is_some() {
            attrs.push_str(" aria-invalid=\"true\"");
        }
        let control = if self.kind == "textarea" {
            format!(
                "<textarea id=\"{id}\" name=\"{id}\" rows=\"4\" {attrs}>{}</textarea>",
                esc(self.value)
            )
        } else {
            format!(
                "<input id=\"{id}\" name=\"{id}\" type=\"{}\" value=\"{}\" {attrs}>",
                esc(self.kind),
                esc(self.value)
            )
        };
        let class = if self.error.is_some() {
            "field invalid"
        } else {
            "field"
        };
        format!(
            "<div class=\"{class}\"><label for=\"{id}\">{}</label>{hint}{error}{control}</div>",
            esc(self.label)
        )
    }
}

/// The help text of a control and the attribute that ties it to the control.
fn hint_parts(id: &str, hint: &str) -> (String, String) {
    if hint.is_empty() {
        return (String::new(), String::new());
    }
    (
        format!("<p class=\"hint\" id=\"{id}-hint\">{}</p>", esc(hint)),
        format!(" aria-describedby=\"{id}-hint\""),
    )
}

/// A labelled `<select>`; `options` are (value, label).
pub(crate) fn select(
    name: &str,
    label: &str,
    options: &[(&str, &str)],
    selected: &str,
    hint: &str,
) -> String {
    let id = esc(name);
    let opts: String = options
        .iter()
        .map(|(v, l)| {
            let sel = if *v == selected { " selected" } else { "" };
            format!("<option value=\"{}\"{sel}>{}</option>", esc(v), esc(l))
        })
        .collect();
    let (hint, described) = hint_parts(&id, hint);
    format!(
        "<div class=\"field\"><label for=\"{id}\">{}</label>{hint}<select id=\"{id}\" name=\"{id}\"{described}>{opts}</select></div>",
        esc(label)
    )
}

/// A labelled checkbox.
pub(crate) fn checkbox(name: &str, label: &str, checked: bool, hint: &str) -> String {
    let id = esc(name);
    let checked = if checked { " checked" } else { "" };
    let (hint, described) = hint_parts(&id, hint);
    format!(
        "<div class=\"field check\"><input id=\"{id}\" name=\"{id}\" type=\"checkbox\" value=\"on\"{checked}{described}>\
         <label for=\"{id}\">{}</label>{hint}</div>",
        esc(label)
    )
}

/// A list of form errors at the top of a form.
pub(crate) fn errors(list: &[String]) -> String {
    if list.is_empty() {
        return String::new();
    }
    let items: String = list
        .iter()
        .map(|e| format!("<li>{}</li>", esc(e)))
        .collect();
    format!(
        "<div class=\"notice error\" role=\"alert\"><p><strong>Nothing was saved:</strong></p><ul>{items}</ul></div>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_escaped_and_described() {
        let f = Field::text("email", "Email", "\"><script>")
            .hint("h")
            .error(Some("bad"))
            .html();
        assert!(f.contains("value=\"&quot;&gt;&lt;script&gt;\""), "{f}");
        assert!(
            f.contains("aria-describedby=\"email-hint email-error\"")
                && f.contains("aria-invalid=\"true\""),
            "{f}"
        );
    }
}
