//! A check of OCSF events against the OCSF schema's source files: the
//! dictionary, the event classes and the objects, as the `ocsf-schema`
//! repository publishes them.
//!
//! The check resolves `extends` and `$include`. Then, for the event and
//! every nested object, it reports each of these problems: a required
//! attribute that is missing, an attribute that the class or object does
//! not define, and a value of the wrong JSON type. It also reports an enum
//! value that is not defined, a caption that does not match its id, and
//! an `at_least_one` constraint that no attribute meets. Enums that the source files leave for the schema compiler to
//! fill are not checked. It also checks that `class_uid`, `category_uid` and `type_uid`
//! agree with the class. It does not check value formats such as IP
//! addresses, or which profile an attribute belongs to.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde_json::{Map, Value};

/// An attribute definition after merging the dictionary, includes, parents
/// and the class or object itself.
#[derive(Clone, Debug, Default)]
struct Attribute {
    type_name: String,
    is_array: bool,
    requirement: String,
    enum_values: BTreeMap<String, String>,
    sibling: Option<String>,
}

/// A class or object with its attributes resolved.
#[derive(Clone, Debug, Default)]
struct Definition {
    uid: Option<u64>,
    category: Option<String>,
    attributes: BTreeMap<String, Attribute>,
    at_least_one: Vec<String>,
}

/// The classes, objects and categories of one OCSF version.
#[derive(Debug)]
pub struct Schema {
    classes: HashMap<String, Definition>,
    objects: HashMap<String, Definition>,
    categories: HashMap<String, u64>,
}

/// A schema folder that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("invalid OCSF schema at {path}: {message}")]
pub struct SchemaError {
    path: String,
    message: String,
}

type Raw = HashMap<String, Map<String, Value>>;

impl Schema {
    /// Loads the schema source files under `root`: `dictionary.json`,
    /// `categories.json`, `events/**/*.json` and `objects/*.json`.
    pub fn load(root: &Path) -> Result<Self, SchemaError> {
        let dictionary = read_json(root, &root.join("dictionary.json"))?;
        let dictionary = dictionary
            .get("attributes")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let categories = read_json(root, &root.join("categories.json"))?
            .get("attributes")
            .and_then(Value::as_object)
            .map(|categories| {
                categories
                    .iter()
                    .filter_map(|(name, value)| Some((name.clone(), value["uid"].as_u64()?)))
                    .collect()
            })
            .unwrap_or_default();
        let raw_classes = read_folder(root, &root.join("events"))?;
        let raw_objects = read_folder(root, &root.join("objects"))?;
        let resolve = |raw: &Raw| -> Result<HashMap<String, Definition>, SchemaError> {
            raw.keys()
                .map(|name| Ok((name.clone(), resolve(root, raw, name, &dictionary)?)))
                .collect()
        };
        Ok(Self {
            classes: resolve(&raw_classes)?,
            objects: resolve(&raw_objects)?,
            categories,
        })
    }

    /// Validates one event and returns a message per problem, each naming
    /// the attribute's path.
    pub fn validate(&self, event: &Value) -> Vec<String> {
        let mut errors = Vec::new();
        let Some(object) = event.as_object() else {
            return vec!["the event is not a JSON object".to_owned()];
        };
        let Some(class) = self.class_of(object, &mut errors) else {
            return errors;
        };
        let datetime = event["metadata"]["profiles"]
            .as_array()
            .is_some_and(|profiles| profiles.iter().any(|p| p == "datetime"));
        let checker = Checker {
            schema: self,
            datetime,
        };
        checker.object(object, class, "", &mut errors);
        errors
    }

    /// Finds the class whose uid is the event's `class_uid`, and checks the
    /// category and type uids against it.
    fn class_of(
        &self,
        event: &Map<String, Value>,
        errors: &mut Vec<String>,
    ) -> Option<&Definition> {
        let class_uid = event.get("class_uid").and_then(Value::as_u64);
        let Some(class_uid) = class_uid else {
            errors.push("class_uid: missing or not an integer".to_owned());
            return None;
        };
        let found = self.classes.values().find(|class| {
            let category_uid = class
                .category
                .as_ref()
                .and_then(|name| self.categories.get(name));
            match (class.uid, category_uid) {
                (Some(uid), Some(category)) => category * 1000 + uid == class_uid,
                _ => false,
            }
        });
        let Some(class) = found else {
            errors.push(format!("class_uid: no class has uid {class_uid}"));
            return None;
        };
        let category = class
            .category
            .as_ref()
            .and_then(|name| self.categories.get(name));
        if event.get("category_uid").and_then(Value::as_u64) != category.copied() {
            errors.push(format!("category_uid: expected {category:?}"));
        }
        let activity = event
            .get("activity_id")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let type_uid = event.get("type_uid").and_then(Value::as_u64);
        if type_uid != Some(class_uid * 100 + activity) {
            errors.push(format!(
                "type_uid: expected {} for activity_id {activity}",
                class_uid * 100 + activity
            ));
        }
        Some(class)
    }
}

/// Walks an event with the definitions of one schema.
struct Checker<'a> {
    schema: &'a Schema,
    datetime: bool,
}

impl Checker<'_> {
    fn object(
        &self,
        value: &Map<String, Value>,
        definition: &Definition,
        path: &str,
        errors: &mut Vec<String>,
    ) {
        for (name, attribute) in &definition.attributes {
            let present = value.get(name).is_some_and(|v| !v.is_null());
            if attribute.requirement == "required" && !present {
                errors.push(format!("{}: required attribute missing", join(path, name)));
            }
        }
        if !definition.at_least_one.is_empty()
            && !definition
                .at_least_one
                .iter()
                .any(|name| value.contains_key(name))
        {
            errors.push(format!(
                "{}: needs at least one of {}",
                if path.is_empty() { "event" } else { path },
                definition.at_least_one.join(", ")
            ));
        }
        for (name, item) in value {
            let item_path = join(path, name);
            match definition.attributes.get(name) {
                Some(attribute) => self.attribute(item, attribute, &item_path, value, errors),
                None if self.is_datetime_sibling(name, definition) => {
                    if !item.is_string() {
                        errors.push(format!("{item_path}: expected a date-time string"));
                    }
                }
                None => errors.push(format!("{item_path}: not an attribute of this object")),
            }
        }
    }

    /// Reports whether `name` is the `_dt` form of a timestamp attribute,
    /// which the `datetime` profile adds.
    fn is_datetime_sibling(&self, name: &str, definition: &Definition) -> bool {
        let base = name.strip_suffix("_dt");
        self.datetime
            && base.is_some_and(|base| {
                definition
                    .attributes
                    .get(base)
                    .is_some_and(|attribute| attribute.type_name == "timestamp_t")
            })
    }

    fn attribute(
        &self,
        value: &Value,
        attribute: &Attribute,
        path: &str,
        parent: &Map<String, Value>,
        errors: &mut Vec<String>,
    ) {
        if value.is_null() {
            return;
        }
        if attribute.is_array {
            let Some(items) = value.as_array() else {
                errors.push(format!("{path}: expected an array"));
                return;
            };
            for (index, item) in items.iter().enumerate() {
                self.scalar_or_object(item, attribute, &format!("{path}[{index}]"), errors);
            }
        } else {
            self.scalar_or_object(value, attribute, path, errors);
        }
        self.enum_value(value, attribute, path, parent, errors);
    }

    fn scalar_or_object(
        &self,
        value: &Value,
        attribute: &Attribute,
        path: &str,
        errors: &mut Vec<String>,
    ) {
        let expected = match attribute.type_name.as_str() {
            "json_t" => return,
            "object" => value.is_object(),
            "boolean_t" => value.is_boolean(),
            "integer_t" | "long_t" | "timestamp_t" | "port_t" => value.is_i64() || value.is_u64(),
            "float_t" => value.is_number(),
            name if name.ends_with("_t") => value.is_string(),
            name => {
                let Some(definition) = self.schema.objects.get(name) else {
                    errors.push(format!("{path}: the schema has no object {name}"));
                    return;
                };
                match value.as_object() {
                    Some(object) => {
                        self.object(object, definition, path, errors);
                        true
                    }
                    None => false,
                }
            }
        };
        if !expected {
            errors.push(format!("{path}: expected {}", attribute.type_name));
        }
    }

    fn enum_value(
        &self,
        value: &Value,
        attribute: &Attribute,
        path: &str,
        parent: &Map<String, Value>,
        errors: &mut Vec<String>,
    ) {
        // An enum of only Unknown (0) and Other (99) is a placeholder that
        // the schema compiler fills, as for `class_uid` or an observable's
        // `type_id`. The uids are checked against the class instead.
        let placeholder = attribute
            .enum_values
            .keys()
            .all(|key| key == "0" || key == "99");
        if placeholder {
            return;
        }
        let key = match value {
            Value::Number(number) => number.to_string(),
            Value::String(text) => text.clone(),
            _ => return,
        };
        let Some(caption) = attribute.enum_values.get(&key) else {
            errors.push(format!("{path}: {key} is not a defined value"));
            return;
        };
        let sibling = attribute.sibling.as_ref();
        let sibling_value = sibling
            .and_then(|name| parent.get(name))
            .and_then(Value::as_str);
        if let (Some(name), Some(text)) = (sibling, sibling_value)
            && key != "99"
            && text != caption
        {
            errors.push(format!(
                "{}: {text:?} does not match the caption {caption:?} of {key}",
                path.rsplit_once('.')
                    .map_or(name.clone(), |(head, _)| join(head, name))
            ));
        }
    }
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

fn read_json(root: &Path, path: &Path) -> Result<Map<String, Value>, SchemaError> {
    let error = |message: String| SchemaError {
        path: root.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| error(format!("failed to read {}: {e}", path.display())))?;
    match serde_json::from_str(&text) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(error(format!("{} is not a JSON object", path.display()))),
        Err(e) => Err(error(format!("{} is not valid JSON: {e}", path.display()))),
    }
}

/// Reads every JSON file under `folder`, by the `name` each declares.
fn read_folder(root: &Path, folder: &Path) -> Result<Raw, SchemaError> {
    let mut found = Raw::new();
    let entries = std::fs::read_dir(folder).map_err(|e| SchemaError {
        path: root.display().to_string(),
        message: format!("failed to list {}: {e}", folder.display()),
    })?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(read_folder(root, &path)?);
        } else if path.extension().is_some_and(|e| e == "json") {
            let definition = read_json(root, &path)?;
            if let Some(name) = definition.get("name").and_then(Value::as_str) {
                found.insert(name.to_owned(), definition);
            }
        }
    }
    Ok(found)
}

/// Resolves a class or object: its parent's attributes, then its included
/// files', then its own, each level refining the dictionary's definition.
fn resolve(
    root: &Path,
    raw: &Raw,
    name: &str,
    dictionary: &Map<String, Value>,
) -> Result<Definition, SchemaError> {
    let source = &raw[name];
    let mut definition = match source.get("extends").and_then(Value::as_str) {
        Some(parent) if raw.contains_key(parent) => resolve(root, raw, parent, dictionary)?,
        _ => Definition::default(),
    };
    definition.uid = source.get("uid").and_then(Value::as_u64).or(definition.uid);
    definition.category = source
        .get("category")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or(definition.category);
    let constraints = source.get("constraints").unwrap_or(&Value::Null);
    if let Some(names) = constraints["at_least_one"].as_array() {
        definition.at_least_one = names
            .iter()
            .filter_map(|name| name.as_str().map(str::to_owned))
            .collect();
    }
    let attributes = source
        .get("attributes")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let includes = attributes
        .get("$include")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for include in includes.iter().filter_map(Value::as_str) {
        let included = read_json(root, &root.join(include))?;
        if let Some(included) = included.get("attributes").and_then(Value::as_object) {
            merge(&mut definition, included, dictionary);
        }
    }
    merge(&mut definition, &attributes, dictionary);
    Ok(definition)
}

fn merge(
    definition: &mut Definition,
    attributes: &Map<String, Value>,
    dictionary: &Map<String, Value>,
) {
    for (name, refinement) in attributes {
        if name.starts_with('$') {
            continue;
        }
        let attribute = definition
            .attributes
            .entry(name.clone())
            .or_insert_with(|| from_dictionary(dictionary.get(name).unwrap_or(&Value::Null)));
        refine(attribute, refinement);
    }
}

fn from_dictionary(entry: &Value) -> Attribute {
    let mut attribute = Attribute {
        type_name: entry["type"].as_str().unwrap_or("json_t").to_owned(),
        is_array: entry["is_array"].as_bool().unwrap_or(false),
        ..Attribute::default()
    };
    refine(&mut attribute, entry);
    attribute
}

fn refine(attribute: &mut Attribute, refinement: &Value) {
    if let Some(requirement) = refinement["requirement"].as_str() {
        attribute.requirement = requirement.to_owned();
    }
    if let Some(type_name) = refinement["type"].as_str() {
        attribute.type_name = type_name.to_owned();
    }
    if let Some(is_array) = refinement["is_array"].as_bool() {
        attribute.is_array = is_array;
    }
    if let Some(sibling) = refinement["sibling"].as_str() {
        attribute.sibling = Some(sibling.to_owned());
    }
    if let Some(values) = refinement["enum"].as_object() {
        for (key, value) in values {
            let caption = value["caption"].as_str().unwrap_or_default().to_owned();
            attribute.enum_values.insert(key.clone(), caption);
        }
    }
}
