//! Human output (aligned tables) or `--json` for scripts.

use serde_json::Value;

/// Prints `rows` of `value` as a table with `columns` (JSON pointers), or the JSON itself.
pub fn print(value: &Value, json: bool, columns: &[(&str, &str)]) {
    if json {
        println!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
        return;
    }
    let rows: Vec<&Value> = match value.get("items").and_then(Value::as_array) {
        Some(items) => items.iter().collect(),
        None => vec![value],
    };
    table(&rows, columns);
    if let Some(cursor) = value.get("next_cursor").and_then(Value::as_str) {
        eprintln!("(more: --cursor {cursor})");
    }
}

/// What a session grants, for the `ACCESS` column (`/_access`): the role of a JIT session, the
/// target of a shell session, the permission set of an Identity Center session (its name, or
/// its ARN), the IAM user of a console session.
pub fn access(session: &Value) -> Value {
    let text = |p: &str| session.pointer(p).and_then(Value::as_str).filter(|s| !s.is_empty());
    let shown = match session["type"].as_str() {
        Some("shell") => text("/target"),
        Some("identity_center") => {
            text("/identity_center/permission_set_name").or_else(|| text("/identity_center/permission_set_arn"))
        }
        Some("console") => text("/iam_user"),
        _ => text("/role_arn"),
    };
    shown.map_or(Value::Null, |s| Value::String(s.to_string()))
}

/// A session, or a page of them (`items`), with `/_access` worked out for a table.
pub fn with_access(value: &Value) -> Value {
    let add = |session: &Value| {
        let mut cells = session.clone();
        if let Some(fields) = cells.as_object_mut() {
            fields.insert("_access".into(), access(session));
        }
        cells
    };
    match value.get("items").and_then(Value::as_array) {
        Some(items) => {
            let mut page = value.clone();
            page["items"] = Value::Array(items.iter().map(add).collect());
            page
        }
        None => add(value),
    }
}

pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(cell).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

pub fn table(rows: &[&Value], columns: &[(&str, &str)]) {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            columns
                .iter()
                .map(|(_, ptr)| cell(r.pointer(ptr).unwrap_or(&Value::Null)))
                .collect()
        })
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, (h, _))| {
            cells
                .iter()
                .map(|c| c[i].chars().count())
                .chain([h.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |values: Vec<String>| {
        values
            .iter()
            .zip(&widths)
            .map(|(v, w)| format!("{v:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    println!("{}", line(columns.iter().map(|(h, _)| h.to_string()).collect()));
    for c in cells {
        println!("{}", line(c));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_access_column_names_what_each_kind_grants() {
        let cases = [
            (
                json!({ "type": "jit", "role_arn": "arn:aws:iam::1:role/Ops" }),
                json!("arn:aws:iam::1:role/Ops"),
            ),
            (
                json!({ "type": "shell", "role_arn": "arn:aws:iam::1:role/Shell", "target": "i-0abc" }),
                json!("i-0abc"),
            ),
            (
                json!({ "type": "identity_center", "role_arn": null, "identity_center": { "permission_set_name": "ReadOnly", "permission_set_arn": "arn:aws:sso:::permissionSet/ssoins-1/ps-1" } }),
                json!("ReadOnly"),
            ),
            (
                json!({ "type": "identity_center", "identity_center": { "permission_set_arn": "arn:aws:sso:::permissionSet/ssoins-1/ps-1" } }),
                json!("arn:aws:sso:::permissionSet/ssoins-1/ps-1"),
            ),
            (
                json!({ "type": "console", "role_arn": null, "iam_user": "cib-ana" }),
                json!("cib-ana"),
            ),
            (json!({ "type": "jit", "role_arn": null }), Value::Null),
        ];
        for (session, want) in cases {
            assert_eq!(access(&session), want, "{session}");
        }
        let page = with_access(&json!({ "items": [{ "type": "shell", "target": "i-1" }] }));
        assert_eq!(page["items"][0]["_access"], "i-1");
    }
}
