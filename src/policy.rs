//! Resource-policy documents of the private API (pure: built, merged, stripped and compared
//! here, sent by the private-API step).
//!
//! API Gateway stores a policy rewritten: `execute-api:/*` becomes a full ARN, single values may
//! become lists, and the JSON comes back escaped. Policies are therefore compared by meaning,
//! after [`normalize`].

use serde_json::{Map, Value, json};

const INVOKE: &str = "execute-api:Invoke";
const ALL_METHODS: &str = "execute-api:/*";
const SOURCE_VPCE: &str = "aws:SourceVpce";

/// The policy of a private API the operator created: invoke allowed, but only through `vpce`.
pub fn created_policy(vpce: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": INVOKE,
                "Resource": ALL_METHODS
            },
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": INVOKE,
                "Resource": ALL_METHODS,
                "Condition": {"StringNotEquals": {SOURCE_VPCE: vpce}}
            }
        ]
    })
}

/// Sid of the operator's statement on an adopted API: `Xapi` + the uid without hyphens
/// (IAM Sids are alphanumeric).
pub fn statement_sid(uid: &str) -> String {
    format!(
        "Xapi{}",
        uid.chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>()
    )
}

fn own_statement(sid: &str, vpce: &str) -> Value {
    json!({
        "Sid": sid,
        "Effect": "Allow",
        "Principal": "*",
        "Action": INVOKE,
        "Resource": ALL_METHODS,
        "Condition": {"StringEquals": {SOURCE_VPCE: vpce}}
    })
}

fn statements_mut(doc: &mut Value) -> &mut Vec<Value> {
    if !doc.is_object() {
        *doc = json!({});
    }
    let obj = doc.as_object_mut().expect("made an object above");
    obj.entry("Version").or_insert_with(|| json!("2012-10-17"));
    let st = obj.entry("Statement").or_insert_with(|| json!([]));
    if !st.is_array() {
        *st = Value::Array(vec![st.take()]);
    }
    st.as_array_mut().expect("made an array above")
}

/// The `aws:SourceVpce` values under `StringNotEquals` of a Deny statement, as a mutable list,
/// if the statement is such a deny-list.
fn deny_list_mut(statement: &mut Value) -> Option<&mut Value> {
    if statement.get("Effect").and_then(Value::as_str) != Some("Deny") {
        return None;
    }
    let cond = statement.get_mut("Condition")?.as_object_mut()?;
    let (_, not_equals) = cond
        .iter_mut()
        .find(|(k, _)| k.eq_ignore_ascii_case("StringNotEquals"))?;
    let (_, values) = not_equals
        .as_object_mut()?
        .iter_mut()
        .find(|(k, _)| k.eq_ignore_ascii_case(SOURCE_VPCE))?;
    Some(values)
}

/// Whether `doc` already holds the operator's statement.
pub fn has_statement(doc: &Value, sid: &str) -> bool {
    doc.get("Statement")
        .and_then(Value::as_array)
        .is_some_and(|st| {
            st.iter()
                .any(|s| s.get("Sid").and_then(Value::as_str) == Some(sid))
        })
}

/// Whether merging would add `vpce` to at least one deny-list (it has one without `vpce`).
pub fn merge_extends_deny_list(doc: &Value, vpce: &str) -> bool {
    let mut copy = doc.clone();
    let statements = statements_mut(&mut copy);
    statements
        .iter_mut()
        .filter_map(deny_list_mut)
        .any(|values| match values {
            Value::Array(list) => !list.iter().any(|v| v.as_str() == Some(vpce)),
            other => other.as_str() != Some(vpce),
        })
}

/// An adopted API's policy with the operator's additions: its own Allow statement (replaced if
/// present) and `vpce` added to every existing `aws:SourceVpce` deny-list. Everything else is
/// kept as it was.
pub fn merge_adopted(current: Option<&Value>, sid: &str, vpce: &str) -> Value {
    let mut doc = current.cloned().unwrap_or_else(|| json!({}));
    let statements = statements_mut(&mut doc);
    statements.retain(|s| s.get("Sid").and_then(Value::as_str) != Some(sid));
    for statement in statements.iter_mut() {
        if let Some(values) = deny_list_mut(statement) {
            let mut list = match values.take() {
                Value::Array(v) => v,
                other => vec![other],
            };
            if !list.iter().any(|v| v.as_str() == Some(vpce)) {
                list.push(json!(vpce));
            }
            *values = Value::Array(list);
        }
    }
    statements.push(own_statement(sid, vpce));
    doc
}

/// Undoes [`merge_adopted`]: removes the operator's statement and, when `remove_vpce` is set,
/// `vpce` from the deny-lists (a list left with one value stays a list; one left empty would
/// deny everyone, so the endpoint then stays).
pub fn strip_adopted(current: &Value, sid: &str, vpce: &str, remove_vpce: bool) -> Value {
    let mut doc = current.clone();
    let statements = statements_mut(&mut doc);
    statements.retain(|s| s.get("Sid").and_then(Value::as_str) != Some(sid));
    if remove_vpce {
        for statement in statements.iter_mut() {
            if let Some(values) = deny_list_mut(statement)
                && let Value::Array(list) = values
                && list.len() > 1
            {
                list.retain(|v| v.as_str() != Some(vpce));
            }
        }
    }
    doc
}

/// Parses a policy as API Gateway returns it: plain JSON, or JSON with its quotes escaped.
pub fn parse_stored(stored: &str) -> Option<Value> {
    if let Ok(v) = serde_json::from_str::<Value>(stored)
        && v.is_object()
    {
        return Some(v);
    }
    let unescaped: String = serde_json::from_str(&format!("\"{stored}\"")).ok()?;
    serde_json::from_str::<Value>(&unescaped)
        .ok()
        .filter(Value::is_object)
}

/// Rewrites a policy into one canonical form: resource ARNs back to `execute-api:/…`, single
/// values as one-element lists, `{"AWS": "*"}` as `"*"`, statements sorted, no `Version`
/// differences. Two policies mean the same when their normal forms are equal.
pub fn normalize(doc: &Value) -> Value {
    let mut statements: Vec<Value> = match doc.get("Statement") {
        Some(Value::Array(v)) => v.iter().map(normalize_statement).collect(),
        Some(single) => vec![normalize_statement(single)],
        None => Vec::new(),
    };
    statements.sort_by_key(|s| s.to_string());
    json!({"Version": doc.get("Version").cloned().unwrap_or(json!("2012-10-17")), "Statement": statements})
}

fn normalize_statement(statement: &Value) -> Value {
    let Some(obj) = statement.as_object() else {
        return statement.clone();
    };
    let mut out = Map::new();
    for (key, value) in obj {
        let value = match key.as_str() {
            "Action" | "NotAction" => as_sorted_list(value, |s| s.to_string()),
            "Resource" | "NotResource" => as_sorted_list(value, short_resource),
            "Principal" => match value {
                Value::Object(p)
                    if p.len() == 1 && p.get("AWS").and_then(Value::as_str) == Some("*") =>
                {
                    json!("*")
                }
                other => other.clone(),
            },
            "Condition" => normalize_condition(value),
            _ => value.clone(),
        };
        out.insert(key.clone(), value);
    }
    Value::Object(out)
}

fn normalize_condition(cond: &Value) -> Value {
    let Some(ops) = cond.as_object() else {
        return cond.clone();
    };
    let mut out = Map::new();
    for (op, keys) in ops {
        let normalized = match keys.as_object() {
            Some(keys) => Value::Object(
                keys.iter()
                    .map(|(k, v)| (k.to_ascii_lowercase(), as_sorted_list(v, |s| s.to_string())))
                    .collect(),
            ),
            None => keys.clone(),
        };
        out.insert(op.clone(), normalized);
    }
    Value::Object(out)
}

fn as_sorted_list(value: &Value, map: impl Fn(&str) -> String) -> Value {
    let mut items: Vec<String> = match value {
        Value::Array(v) => v.iter().filter_map(Value::as_str).map(&map).collect(),
        Value::String(s) => vec![map(s)],
        other => return other.clone(),
    };
    items.sort();
    items.dedup();
    json!(items)
}

/// `arn:aws:execute-api:us-east-1:222222222222:a1b2c3d4e5/*` → `execute-api:/*`.
fn short_resource(resource: &str) -> String {
    let mut parts = resource.splitn(6, ':');
    match (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.nth(1),
        parts.next(),
    ) {
        (Some("arn"), Some(_partition), Some("execute-api"), Some(_account), Some(rest)) => {
            match rest.split_once('/') {
                Some((_api_id, path)) => format!("execute-api:/{path}"),
                None => resource.to_string(),
            }
        }
        _ => resource.to_string(),
    }
}

/// Whether two policies mean the same.
pub fn same_meaning(a: &Value, b: &Value) -> bool {
    normalize(a) == normalize(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What API Gateway returns for [`created_policy`] (full ARNs, lists, escaped quotes).
    const STORED: &str = r#"{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"execute-api:Invoke\",\"Resource\":\"arn:aws:execute-api:us-east-1:222222222222:a1b2c3d4e5\/*\"},{\"Effect\":\"Deny\",\"Principal\":\"*\",\"Action\":\"execute-api:Invoke\",\"Resource\":\"arn:aws:execute-api:us-east-1:222222222222:a1b2c3d4e5\/*\",\"Condition\":{\"StringNotEquals\":{\"aws:SourceVpce\":\"vpce-0123456789abcdef0\"}}}]}"#;

    #[test]
    fn stored_policy_means_the_created_one() {
        let stored = parse_stored(STORED).expect("escaped JSON parses");
        assert!(same_meaning(
            &stored,
            &created_policy("vpce-0123456789abcdef0")
        ));
        assert!(!same_meaning(
            &stored,
            &created_policy("vpce-0fffffffffffffff0")
        ));
    }

    #[test]
    fn plain_json_parses_too() {
        let v = parse_stored(r#"{"Statement":[]}"#).expect("plain JSON parses");
        assert_eq!(v["Statement"], json!([]));
        assert!(parse_stored("not a policy").is_none());
    }

    #[test]
    fn principal_and_single_values_normalize() {
        let a = json!({"Statement": {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": ["execute-api:Invoke"], "Resource": "execute-api:/*"}});
        let b = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke", "Resource": ["execute-api:/*"]}]});
        assert!(same_meaning(&a, &b));
    }

    #[test]
    fn merge_adds_own_statement_and_extends_deny_list_only() {
        let current = json!({
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "TeamAllow", "Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*"},
                {"Effect": "Deny", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*",
                 "Condition": {"StringNotEquals": {"aws:SourceVpce": "vpce-0aaaaaaaaaaaaaaaa"}}},
                {"Effect": "Deny", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/admin/*",
                 "Condition": {"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}
            ]
        });
        let sid = statement_sid("0f6a2c1e-4b7d-4e2a-9c3b-1d2e3f4a5b6c");
        assert_eq!(sid, "Xapi0f6a2c1e4b7d4e2a9c3b1d2e3f4a5b6c");
        let merged = merge_adopted(Some(&current), &sid, "vpce-0bbbbbbbbbbbbbbbb");
        let st = merged["Statement"].as_array().expect("statements");
        assert_eq!(st.len(), 4);
        assert_eq!(
            st[0], current["Statement"][0],
            "the team's statement is kept as it was"
        );
        assert_eq!(
            st[1]["Condition"]["StringNotEquals"]["aws:SourceVpce"],
            json!(["vpce-0aaaaaaaaaaaaaaaa", "vpce-0bbbbbbbbbbbbbbbb"])
        );
        assert_eq!(
            st[2], current["Statement"][2],
            "a deny on another key is untouched"
        );
        assert_eq!(st[3]["Sid"], json!(sid));
        assert_eq!(
            st[3]["Condition"]["StringEquals"]["aws:SourceVpce"],
            json!("vpce-0bbbbbbbbbbbbbbbb")
        );

        // Merging again changes nothing.
        assert_eq!(
            merge_adopted(Some(&merged), &sid, "vpce-0bbbbbbbbbbbbbbbb"),
            merged
        );

        // Stripping undoes exactly the additions.
        let stripped = strip_adopted(&merged, &sid, "vpce-0bbbbbbbbbbbbbbbb", true);
        assert!(same_meaning(&stripped, &current));
        assert_eq!(
            stripped["Statement"][1]["Condition"]["StringNotEquals"]["aws:SourceVpce"],
            json!(["vpce-0aaaaaaaaaaaaaaaa"])
        );
    }

    #[test]
    fn knows_whether_the_deny_list_is_extended() {
        let doc = json!({"Statement": [{"Effect": "Deny", "Condition": {"StringNotEquals": {"aws:SourceVpce": "vpce-0aaaaaaaaaaaaaaaa"}}}]});
        assert!(merge_extends_deny_list(&doc, "vpce-0bbbbbbbbbbbbbbbb"));
        assert!(!merge_extends_deny_list(&doc, "vpce-0aaaaaaaaaaaaaaaa"));
        assert!(!merge_extends_deny_list(
            &json!({"Statement": []}),
            "vpce-0bbbbbbbbbbbbbbbb"
        ));
        let merged = merge_adopted(Some(&doc), "Xapi1", "vpce-0bbbbbbbbbbbbbbbb");
        assert!(has_statement(&merged, "Xapi1"));
        assert!(!has_statement(&doc, "Xapi1"));
    }

    #[test]
    fn merge_into_no_policy_makes_one_statement() {
        let merged = merge_adopted(None, "Xapi1", "vpce-0bbbbbbbbbbbbbbbb");
        assert_eq!(merged["Statement"].as_array().map(Vec::len), Some(1));
        assert_eq!(merged["Version"], json!("2012-10-17"));
    }

    #[test]
    fn strip_keeps_endpoint_that_was_not_ours() {
        let merged = merge_adopted(
            Some(
                &json!({"Statement": [{"Effect": "Deny", "Condition": {"StringNotEquals": {"aws:SourceVpce": ["vpce-0aaaaaaaaaaaaaaaa", "vpce-0bbbbbbbbbbbbbbbb"]}}}]}),
            ),
            "Xapi1",
            "vpce-0bbbbbbbbbbbbbbbb",
        );
        let stripped = strip_adopted(&merged, "Xapi1", "vpce-0bbbbbbbbbbbbbbbb", false);
        assert_eq!(
            stripped["Statement"][0]["Condition"]["StringNotEquals"]["aws:SourceVpce"],
            json!(["vpce-0aaaaaaaaaaaaaaaa", "vpce-0bbbbbbbbbbbbbbbb"])
        );
    }
}
