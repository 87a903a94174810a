//! Detection of the IAM policy statements that allow KMS decryption with
//! every KMS key, as AWS Security Hub controls KMS.1 and KMS.2 judge it.
//!
//! Security Hub checks `kms:Decrypt` and `kms:ReEncryptFrom`, and fails a
//! policy that allows either on any arbitrary KMS key. Its controls read
//! only the `Resource` element and do not take the `Condition` element into
//! account, so an Allow statement counts whatever its condition, such as
//! one on `kms:ViaService` or `kms:CallerAccount`.
//!
//! "Every key" is decided on sample key ARNs: two Regions, two accounts,
//! and a single-Region and a multi-Region key id, all in the policy's
//! partition. An action is allowed on every key when, for each sample, an
//! Allow statement covers it and no Deny statement without a condition
//! does. A Deny with a condition leaves the grant in place whenever its
//! condition does not hold, so it does not count. A statement whose
//! resources name one account, one Region or some keys therefore passes,
//! as does a policy whose Deny statements take the grant back.

use serde_json::{Map, Value, json};

/// The KMS actions that Security Hub KMS.1 and KMS.2 check.
pub const DECRYPTION_ACTIONS: [&str; 2] = ["kms:Decrypt", "kms:ReEncryptFrom"];

// The sample accounts and key ids are random rather than the examples of
// the AWS documentation, so that no real policy names them.
const SAMPLE_REGIONS: [&str; 2] = ["us-east-1", "ap-southeast-2"];
const SAMPLE_ACCOUNTS: [&str; 2] = ["503846219075", "862017453391"];
const SAMPLE_KEY_IDS: [&str; 2] = [
    "5d0b7c52-0d1e-4c6e-9b1a-7f3e2a9c4d81",
    "mrk-9e4c2b7a1f3d48c6a5e0b2d7c9f1a3e6",
];

/// One statement that allows a decryption action, as written.
#[derive(Clone, Debug, PartialEq)]
pub struct Statement {
    /// `Sid`, or `statement N` for a statement without one.
    pub name: String,
    /// Position in the policy, from 1.
    pub index: usize,
    /// `Action` or `NotAction`, with its values.
    pub actions: (&'static str, Vec<String>),
    /// `Resource` or `NotResource`, with its values.
    pub resources: (&'static str, Vec<String>),
    /// Condition keys, such as `kms:ViaService`.
    pub condition_keys: Vec<String>,
    /// The decryption actions that the statement allows on some key.
    pub decryption_actions: Vec<&'static str>,
}

impl Statement {
    /// Returns the statement as evidence JSON.
    pub fn to_json(&self) -> Value {
        let mut statement = Map::new();
        statement.insert("statement".into(), json!(self.name));
        statement.insert("index".into(), json!(self.index));
        statement.insert(self.actions.0.into(), json!(self.actions.1));
        statement.insert(self.resources.0.into(), json!(self.resources.1));
        if !self.condition_keys.is_empty() {
            statement.insert("condition_keys".into(), json!(self.condition_keys));
        }
        statement.insert("decryption_actions".into(), json!(self.decryption_actions));
        Value::Object(statement)
    }
}

/// The decryption actions that a policy allows, with the statements behind
/// them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Decryption {
    /// Decryption actions allowed on every KMS key.
    pub every_key_actions: Vec<&'static str>,
    /// Allow statements that grant those actions on some of the sample
    /// keys; together they cover every key.
    pub every_key_statements: Vec<Statement>,
    /// Allow statements that grant a decryption action on some keys only.
    pub scoped_statements: Vec<Statement>,
}

impl Decryption {
    /// Reports whether a decryption action is allowed on every key.
    pub fn allows_every_key(&self) -> bool {
        !self.every_key_actions.is_empty()
    }
}

/// A policy statement, read.
struct Parsed<'a> {
    statement: Statement,
    allow: bool,
    has_condition: bool,
    element: &'a Value,
}

/// Reads a policy document and finds the decryption it allows. `partition`
/// is the partition of the policy's account, such as `aws`. Returns an
/// error text for a document that is not JSON of the policy grammar.
pub fn analyze(document: &str, partition: &str) -> Result<Decryption, String> {
    let policy: Value =
        serde_json::from_str(document).map_err(|error| format!("policy is not JSON: {error}"))?;
    let statements: Vec<&Value> = match &policy["Statement"] {
        Value::Array(list) => list.iter().collect(),
        statement @ Value::Object(_) => vec![statement],
        _ => return Err("policy has no Statement".to_owned()),
    };
    let parsed: Vec<Parsed<'_>> = statements
        .iter()
        .enumerate()
        .filter_map(|(index, element)| parse(element, index))
        .collect();
    let samples = sample_keys(partition);

    let mut decryption = Decryption::default();
    let mut granting = vec![false; parsed.len()];
    for action in DECRYPTION_ACTIONS {
        let mut every_sample = true;
        let mut granted_by = vec![false; parsed.len()];
        for sample in &samples {
            let denied = parsed
                .iter()
                .any(|p| !p.allow && !p.has_condition && applies(p.element, action, sample));
            let mut allowed = false;
            for (position, p) in parsed.iter().enumerate() {
                if p.allow && !denied && applies(p.element, action, sample) {
                    allowed = true;
                    granted_by[position] = true;
                }
            }
            every_sample &= allowed;
        }
        if every_sample {
            decryption.every_key_actions.push(action);
            for (position, granted) in granted_by.iter().enumerate() {
                granting[position] |= *granted;
            }
        }
    }
    for (position, p) in parsed.into_iter().enumerate() {
        if !p.allow || p.statement.decryption_actions.is_empty() {
            continue;
        }
        if granting[position] {
            decryption.every_key_statements.push(p.statement);
        } else {
            decryption.scoped_statements.push(p.statement);
        }
    }
    Ok(decryption)
}

/// Reads one statement; `None` for an effect other than Allow or Deny.
fn parse(element: &Value, index: usize) -> Option<Parsed<'_>> {
    let allow = match element["Effect"].as_str() {
        Some("Allow") => true,
        Some("Deny") => false,
        _ => return None,
    };
    let name = element["Sid"]
        .as_str()
        .filter(|sid| !sid.is_empty())
        .map_or_else(|| format!("statement {}", index + 1), str::to_owned);
    let actions = match element.get("NotAction") {
        Some(values) => ("NotAction", strings(values)),
        None => ("Action", strings(&element["Action"])),
    };
    let resources = match element.get("NotResource") {
        Some(values) => ("NotResource", strings(values)),
        None => ("Resource", strings(&element["Resource"])),
    };
    let condition_keys = condition_keys(&element["Condition"]);
    let decryption_actions = DECRYPTION_ACTIONS
        .into_iter()
        .filter(|action| covers_action(element, action))
        .collect();
    Some(Parsed {
        statement: Statement {
            name,
            index: index + 1,
            actions,
            resources,
            condition_keys,
            decryption_actions,
        },
        allow,
        has_condition: element["Condition"]
            .as_object()
            .is_some_and(|c| !c.is_empty()),
        element,
    })
}

/// Reports whether a statement covers `action` on the key ARN `key`.
fn applies(element: &Value, action: &str, key: &str) -> bool {
    covers_action(element, action) && covers_resource(element, key)
}

fn covers_action(element: &Value, action: &str) -> bool {
    let matches = |pattern: &String| action_matches(pattern, action);
    if let Some(excluded) = element.get("NotAction") {
        return !strings(excluded).iter().any(matches);
    }
    strings(&element["Action"]).iter().any(matches)
}

fn covers_resource(element: &Value, key: &str) -> bool {
    let matches = |pattern: &String| arn_matches(pattern, key);
    if let Some(excluded) = element.get("NotResource") {
        return !strings(excluded).iter().any(matches);
    }
    strings(&element["Resource"]).iter().any(matches)
}

/// Returns the values of a string-or-list policy element.
fn strings(element: &Value) -> Vec<String> {
    match element {
        Value::String(text) => vec![text.clone()],
        Value::Array(list) => list
            .iter()
            .filter_map(|value| value.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// Condition keys of a `Condition` element, once each, in order.
fn condition_keys(condition: &Value) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    let Value::Object(operators) = condition else {
        return keys;
    };
    for entries in operators.values() {
        let Value::Object(entries) = entries else {
            continue;
        };
        for key in entries.keys() {
            if !keys.contains(key) {
                keys.push(key.clone());
            }
        }
    }
    keys
}

/// Key ARNs that stand for "any KMS key" in `partition`.
fn sample_keys(partition: &str) -> Vec<String> {
    let mut keys = Vec::new();
    for region in SAMPLE_REGIONS {
        for account in SAMPLE_ACCOUNTS {
            for key_id in SAMPLE_KEY_IDS {
                keys.push(format!(
                    "arn:{partition}:kms:{region}:{account}:key/{key_id}"
                ));
            }
        }
    }
    keys
}

/// Matches an action name against an `Action` pattern. IAM compares
/// actions without regard to case; `*` matches any run of characters and
/// `?` any one character.
pub fn action_matches(pattern: &str, action: &str) -> bool {
    let pattern: Vec<char> = pattern.to_ascii_lowercase().chars().collect();
    let action: Vec<char> = action.to_ascii_lowercase().chars().collect();
    wildcard_matches(&pattern, &action, false)
}

/// Matches an ARN against a `Resource` pattern as IAM does: `*` and `?`
/// match within one colon-separated segment, except that a `*` that ends a
/// segment of the pattern also matches across colons.
pub fn arn_matches(pattern: &str, arn: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let arn: Vec<char> = arn.chars().collect();
    wildcard_matches(&pattern, &arn, true)
}

/// Matches `text` against `pattern` with `*` and `?`. With `segments`, a
/// wildcard does not match `:`, unless it is a `*` followed by `:` or by
/// the end of the pattern.
fn wildcard_matches(pattern: &[char], text: &[char], segments: bool) -> bool {
    // matched[j]: the pattern read so far matches text[..j].
    let mut matched = vec![false; text.len() + 1];
    matched[0] = true;
    for (position, &symbol) in pattern.iter().enumerate() {
        let mut next = vec![false; text.len() + 1];
        match symbol {
            '*' => {
                let crosses = !segments || matches!(pattern.get(position + 1), None | Some(':'));
                for j in 0..=text.len() {
                    let extends = j > 0 && next[j - 1] && (crosses || text[j - 1] != ':');
                    next[j] = matched[j] || extends;
                }
            }
            '?' => {
                for j in 1..=text.len() {
                    next[j] = matched[j - 1] && !(segments && text[j - 1] == ':');
                }
            }
            literal => {
                for j in 1..=text.len() {
                    next[j] = matched[j - 1] && text[j - 1] == literal;
                }
            }
        }
        matched = next;
    }
    matched[text.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_match_wildcards_in_any_case() {
        for pattern in [
            "kms:Decrypt",
            "kms:*",
            "*",
            "kms:De*",
            "KMS:decrypt",
            "kms:?ecrypt",
        ] {
            assert!(action_matches(pattern, "kms:Decrypt"), "{pattern}");
        }
        for pattern in ["kms:Encrypt", "kms:Re*", "s3:*", "kms:Decrypt?"] {
            assert!(!action_matches(pattern, "kms:Decrypt"), "{pattern}");
        }
        assert!(action_matches("kms:Re*", "kms:ReEncryptFrom"));
        assert!(action_matches("kms:ReEncrypt*", "kms:ReEncryptFrom"));
        assert!(!action_matches("kms:ReEncryptTo", "kms:ReEncryptFrom"));
    }

    #[test]
    fn arn_wildcards_stay_in_their_segment() {
        let key = "arn:aws:kms:us-east-1:111122223333:key/abc";
        for pattern in [
            "*",
            "arn:aws:kms:*",
            "arn:aws:kms:*:*:key/*",
            "arn:*:kms:*:*:*",
            "arn:aws:kms:us-east-1:111122223333:key/abc",
            "arn:aws:kms:us-east-?:*:key/*",
        ] {
            assert!(arn_matches(pattern, key), "{pattern}");
        }
        for pattern in [
            "arn:aws:kms:*:*:alias/*",
            "arn:aws:kms:eu-*:*:key/*",
            "arn:aws:kms:us-east-1:444455556666:key/*",
            // A `*` inside a segment does not cross the colon.
            "arn:aws:kms:us-*1:key/*",
            "arn:aws:kms:us-east-1?111122223333:key/abc",
        ] {
            assert!(!arn_matches(pattern, key), "{pattern}");
        }
    }
}
