//! graphql-core 3.2's suggestions (`suggestion_list`, `did_you_mean`: ` Did you mean 'a', 'b',
//! or 'c'?`) and the form of one reworded error: what [`crate::wording`] and
//! [`crate::literals`] both use.

/// One error as the answer lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Worded {
    pub(crate) message: String,
    /// (line, column) from 1.
    pub(crate) locations: Vec<(usize, usize)>,
}

/// graphql-core's `did_you_mean`: ` Did you mean 'a', 'b', or 'c'?` (at most five), or nothing.
pub(crate) fn did_you_mean(suggestions: &[String], sub: Option<&str>) -> String {
    let shown = &suggestions[..suggestions.len().min(5)];
    let quoted: Vec<String> = shown.iter().map(|s| format!("'{s}'")).collect();
    let list = match quoted.as_slice() {
        [] => return String::new(),
        [one] => one.clone(),
        [a, b] => format!("{a} or {b}"),
        [init @ .., last] => format!("{}, or {last}", init.join(", ")),
    };
    match sub {
        Some(sub) => format!(" Did you mean {sub} {list}?"),
        None => format!(" Did you mean {list}?"),
    }
}

/// graphql-core's `suggestion_list`: the options within a lexical distance of 40 % of the
/// input (plus one), closest first, then in natural order.
pub(crate) fn suggestion_list<'a>(
    input: &str,
    options: impl IntoIterator<Item = &'a str>,
) -> Vec<String> {
    let threshold = input.chars().count() * 2 / 5 + 1;
    let lower: Vec<char> = input.to_lowercase().chars().collect();
    let mut found: Vec<(usize, &str)> = options
        .into_iter()
        .filter_map(|option| distance(input, &lower, option, threshold).map(|d| (d, option)))
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| natural(a.1).cmp(&natural(b.1))));
    found.into_iter().map(|(_, o)| o.to_owned()).collect()
}

/// A name split into text and numbers, so that `a10` sorts after `a9` (graphql-core's
/// `natural_comparison_key`).
pub(crate) fn natural(text: &str) -> Vec<(String, u128)> {
    let mut parts = Vec::new();
    let mut chars = text.chars().peekable();
    let mut current = String::new();
    while let Some(c) = chars.next() {
        current.push(c);
        let digit = c.is_ascii_digit();
        if chars.peek().is_none_or(|n| n.is_ascii_digit() != digit) {
            let number = if digit { current.parse().unwrap_or(u128::MAX) } else { 0 };
            parts.push((std::mem::take(&mut current), number));
        }
    }
    // Text parts compare as text, digit runs as numbers: put the number first for those.
    parts
        .into_iter()
        .map(
            |(t, n)| {
                if t.starts_with(|c: char| c.is_ascii_digit()) {
                    (String::new(), n)
                } else {
                    (t, 0)
                }
            },
        )
        .collect()
}

/// graphql-core's `LexicalDistance.measure`: Damerau–Levenshtein on lower-cased text, a case
/// change alone counting one, `None` past `threshold`.
fn distance(input: &str, input_lower: &[char], option: &str, threshold: usize) -> Option<usize> {
    if input == option {
        return Some(0);
    }
    let option_lower: Vec<char> = option.to_lowercase().chars().collect();
    if option_lower == input_lower {
        return Some(1);
    }
    let (a, b) = if option_lower.len() < input_lower.len() {
        (input_lower, option_lower.as_slice())
    } else {
        (option_lower.as_slice(), input_lower)
    };
    if a.len() - b.len() > threshold {
        return None;
    }
    let mut rows = vec![vec![0usize; b.len() + 1]; 3];
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        let mut smallest = i;
        rows[i % 3][0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut cell = (rows[(i - 1) % 3][j] + 1)
                .min(rows[i % 3][j - 1] + 1)
                .min(rows[(i - 1) % 3][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                cell = cell.min(rows[(i - 2) % 3][j - 2] + 1);
            }
            smallest = smallest.min(cell);
            rows[i % 3][j] = cell;
        }
        if smallest > threshold {
            return None;
        }
    }
    let d = rows[a.len() % 3][b.len()];
    (d <= threshold).then_some(d)
}
