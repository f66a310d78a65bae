//! Table, column and channel names: checked once when a store is made, quoted for SQL.

use crate::Error;

/// A validated, possibly schema-qualified table name, with both tables' quoted SQL forms.
#[derive(Clone, Debug)]
pub(crate) struct TableNames {
    /// As the user gave it.
    pub(crate) name: String,
    /// The subjects table, quoted for SQL.
    pub(crate) subjects: String,
    /// The everyone table, quoted for SQL.
    pub(crate) everyone: String,
    /// The sessions table, quoted for SQL.
    pub(crate) sessions: String,
    /// The sessions table's index by retention, quoted for SQL.
    pub(crate) sessions_by_retention: String,
}

/// PostgreSQL truncates longer identifiers (NAMEDATALEN - 1).
pub(crate) const MAX_IDENTIFIER_BYTES: usize = 63;
const EVERYONE_SUFFIX: &str = "_everyone";
const SESSIONS_SUFFIX: &str = "_sessions";
/// The sessions table's index by retention; no longer than the other suffixes, so that every name
/// made from a valid table name fits in an identifier.
const SESSIONS_INDEX_SUFFIX: &str = "_sess_ttl";

impl TableNames {
    /// Checks `name`; `allow_schema` permits a `schema.` prefix.
    pub(crate) fn new(name: &str, allow_schema: bool) -> Result<Self, Error> {
        let invalid = |reason| Error::InvalidName {
            what: "table",
            name: name.to_owned(),
            reason,
        };
        let (schema, table) = split_table_name(name, allow_schema).map_err(invalid)?;
        if table.len() + EVERYONE_SUFFIX.len() > MAX_IDENTIFIER_BYTES {
            return Err(invalid(
                "the table name may have at most 54 characters (63 with the `_everyone` suffix)",
            ));
        }
        Ok(Self {
            name: name.to_owned(),
            subjects: quote_table(schema, table),
            everyone: quote_table(schema, &format!("{table}{EVERYONE_SUFFIX}")),
            sessions: quote_table(schema, &format!("{table}{SESSIONS_SUFFIX}")),
            sessions_by_retention: format!("\"{table}{SESSIONS_INDEX_SUFFIX}\""),
        })
    }
}

/// A checked table name split into its optional schema and the table.
fn split_table_name(name: &str, allow_schema: bool) -> Result<(Option<&str>, &str), &'static str> {
    let (schema, table) = match name.split_once('.') {
        Some(_) if !allow_schema => {
            return Err("a schema prefix is only supported on PostgreSQL");
        }
        Some((schema, table)) => (Some(schema), table),
        None => (None, name),
    };
    if let Some(schema) = schema {
        check_identifier(schema)?;
    }
    check_identifier(table)?;
    Ok((schema, table))
}

/// A checked table name, quoted for SQL.
fn quote_table(schema: Option<&str>, table: &str) -> String {
    match schema {
        Some(schema) => format!("\"{schema}\".\"{table}\""),
        None => format!("\"{table}\""),
    }
}

/// The table a store is authoritative about, as set by the builder's `known_subjects`: a subject
/// without a row there is refused.
#[derive(Clone, Debug)]
pub(crate) struct KnownSubjects {
    /// As the user gave them: `table.column`.
    pub(crate) name: String,
    /// The table, quoted for SQL.
    pub(crate) table: String,
    /// The column, quoted for SQL.
    pub(crate) column: String,
}

impl KnownSubjects {
    /// Checks a `(table, column)` setting; `None` stays `None`.
    pub(crate) fn new(
        setting: Option<&(String, String)>,
        allow_schema: bool,
    ) -> Result<Option<Self>, Error> {
        let Some((table, column)) = setting else {
            return Ok(None);
        };
        let (schema, bare_table) =
            split_table_name(table, allow_schema).map_err(|reason| Error::InvalidName {
                what: "known subjects table",
                name: table.clone(),
                reason,
            })?;
        check_identifier(column).map_err(|reason| Error::InvalidName {
            what: "known subjects column",
            name: column.clone(),
            reason,
        })?;
        Ok(Some(Self {
            name: format!("{table}.{column}"),
            table: quote_table(schema, bare_table),
            column: format!("\"{column}\""),
        }))
    }
}

/// Checks a plain SQL identifier: ASCII letters, digits and `_`, not starting with a digit, at most
/// 63 bytes. Such a name needs no escaping inside double quotes.
pub(crate) fn check_identifier(name: &str) -> Result<(), &'static str> {
    let mut bytes = name.bytes();
    match bytes.next() {
        None => Err("empty identifier"),
        Some(first) if first.is_ascii_digit() => Err("an identifier may not start with a digit"),
        Some(_) if name.len() > MAX_IDENTIFIER_BYTES => {
            Err("an identifier may have at most 63 characters")
        }
        Some(first) => {
            if std::iter::once(first)
                .chain(bytes)
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_')
            {
                Ok(())
            } else {
                Err("only ASCII letters, digits and `_` are allowed")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_plain() {
        for good in ["jwt_cutoffs", "_x", "A1", "a".repeat(54).as_str()] {
            assert!(TableNames::new(good, false).is_ok(), "{good}");
        }
        for bad in [
            "",
            "1a",
            "a-b",
            "a b",
            "a\"b",
            "é",
            "a;drop",
            "a.b",
            "a".repeat(55).as_str(),
        ] {
            assert!(TableNames::new(bad, false).is_err(), "{bad}");
        }
        assert!(TableNames::new("auth.jwt_cutoffs", true).is_ok());
        for bad in ["auth.", ".t", "a.b.c", "a\".t", "a.\"t"] {
            assert!(TableNames::new(bad, true).is_err(), "{bad}");
        }
        let names = TableNames::new("auth.cutoffs", true).unwrap_or_else(|_| unreachable!());
        assert_eq!(names.subjects, "\"auth\".\"cutoffs\"");
        assert_eq!(names.everyone, "\"auth\".\"cutoffs_everyone\"");
    }

    #[test]
    fn known_subjects_names_are_checked() {
        assert!(matches!(KnownSubjects::new(None, true), Ok(None)));
        let schema_on_sqlite = ("auth.users".to_owned(), "id".to_owned());
        assert!(KnownSubjects::new(Some(&schema_on_sqlite), false).is_err());
        let known = KnownSubjects::new(Some(&schema_on_sqlite), true)
            .unwrap_or_else(|_| unreachable!())
            .unwrap_or_else(|| unreachable!());
        assert_eq!(
            (known.table.as_str(), known.column.as_str()),
            ("\"auth\".\"users\"", "\"id\"")
        );
    }
}
