//! The regular expressions of `__re` / `__ire` filters, compiled one way for the check a filter
//! gets before any SQL and for SQLite's `REGEXP` function: the same syntax (Rust's `regex`) and
//! the same bound on what one pattern may compile to.

/// The most memory one compiled pattern may take (the `regex` crate's default is 10 MiB;
/// filters are short, at most `MAX_FILTER_TEXT` characters).
const SIZE_LIMIT: usize = 1 << 20;

pub(crate) fn compile(pattern: &str) -> Result<regex::Regex, regex::Error> {
    regex::RegexBuilder::new(pattern).size_limit(SIZE_LIMIT).build()
}
