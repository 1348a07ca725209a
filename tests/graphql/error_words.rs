//! Errors word for word: documents refused as graphql-core 3.2 (Nautobot's) refuses them, and
//! filter values refused as Nautobot's filter forms refuse them.

use super::*;

/// A refused document's errors as (message, [(line, column)]).
type Expected = &'static [(&'static str, &'static [(usize, usize)])];

/// Documents and what graphql-core 3.2.11 answers for them against the served SDL
/// (`schema/schema.graphql` through `graphql.build_schema`, `parse` and `validate`).
const DOCUMENT_ERRORS: &[(&str, Expected)] = &[
        (
            "{ devices { site } }",
            &[("Cannot query field 'site' on type 'DeviceType'.", &[(1, 13)])],
        ),
        (
            "{ devices { nam } }",
            &[("Cannot query field 'nam' on type 'DeviceType'. Did you mean 'name'?", &[(1, 13)])],
        ),
        (
            "{ devices(nme: \"x\") { name } }",
            &[("Unknown argument 'nme' on field 'Query.devices'. Did you mean 'name'?", &[(1, 11)])],
        ),
        (
            "{ devices(limit: \"x\") { name } }",
            &[("Int cannot represent non-integer value: \"x\"", &[(1, 18)])],
        ),
        (
            "{ devices(name: 1) { name } }",
            &[("String cannot represent a non string value: 1", &[(1, 17)])],
        ),
        (
            "{ devices(name: [\"a\", 1, true]) { name } }",
            &[("String cannot represent a non string value: 1", &[(1, 23)]), ("String cannot represent a non string value: true", &[(1, 26)])],
        ),
        (
            "{ devices(limit: 1.5) { name } }",
            &[("Int cannot represent non-integer value: 1.5", &[(1, 18)])],
        ),
        (
            "{ devicez { name } }",
            &[("Cannot query field 'devicez' on type 'Query'. Did you mean 'device', 'devices', 'service', or 'services'?", &[(1, 3)])],
        ),
        (
            "{ devices { name { x } } }",
            &[("Field 'name' must not have a selection since type 'String' has no subfields.", &[(1, 18)])],
        ),
        (
            "{ devices { location } }",
            &[("Field 'location' of type 'LocationType' must have a selection of subfields. Did you mean 'location { ... }'?", &[(1, 13)])],
        ),
        (
            "query($x: Foo) { devices { name } }",
            &[("Unknown type 'Foo'.", &[(1, 11)]), ("Variable '$x' is never used.", &[(1, 7)])],
        ),
        (
            "query($x: String) { devices { name } }",
            &[("Variable '$x' is never used.", &[(1, 7)])],
        ),
        (
            "{ devices { ...F } }",
            &[("Unknown fragment 'F'.", &[(1, 16)])],
        ),
        (
            "fragment F on DeviceType { name } { devices { name } }",
            &[("Fragment 'F' is never used.", &[(1, 1)])],
        ),
        (
            "{ devices @foo { name } }",
            &[("Unknown directive '@foo'.", &[(1, 11)])],
        ),
        (
            "{ devices { name @skip(if: \"yes\") } }",
            &[("Boolean cannot represent a non boolean value: \"yes\"", &[(1, 28)])],
        ),
        (
            "{ devices { name @skip } }",
            &[("Directive '@skip' argument 'if' of type 'Boolean!' is required, but it was not provided.", &[(1, 18)])],
        ),
        (
            "{ devices { a: name a: serial } }",
            &[("Fields 'a' conflict because 'name' and 'serial' are different fields. Use different aliases on the fields to fetch both if this was intentional.", &[(1, 13), (1, 21)])],
        ),
        (
            "mutation { tag_create(input: {nme: \"x\"}) { id } }",
            &[("Field 'nme' is not defined by type 'TagInput'. Did you mean 'name'?", &[(1, 31)])],
        ),
        (
            "{ interfaces(type: 1) { name } }",
            &[("String cannot represent a non string value: 1", &[(1, 20)])],
        ),
        (
            "query($location_name: String) { devices(location: location_name) { name } }",
            &[("String cannot represent a non string value: location_name", &[(1, 51)]), ("Variable '$location_name' is never used.", &[(1, 7)])],
        ),
        (
            "{ devices { name }",
            &[("Syntax Error: Expected Name, found <EOF>.", &[(1, 19)])],
        ),
        (
            "query { devices(name: \"x) { name } }",
            &[("Syntax Error: Unterminated string.", &[(1, 37)])],
        ),
        (
            "{ devices(limit: 1 { name } }",
            &[("Syntax Error: Expected Name, found '{'.", &[(1, 20)])],
        ),
        (
            "query(location_name: String) { devices { name } }",
            &[("Syntax Error: Expected '$', found Name 'location_name'.", &[(1, 7)])],
        ),
];

/// Where Ferrobot's answer still differs from graphql-core's (async-graphql's rules decide
/// what is refused; only the words are graphql-core's): the document, graphql-core's answer,
/// and the status and first message Ferrobot gives.
const NOT_YET_WORD_FOR_WORD: &[(&str, &str, u16, &str)] = &[
    // async-graphql's Int takes any 64-bit literal.
    (
        "{ devices(limit: 9999999999) { name } }",
        "Int cannot represent non 32-bit signed integer value: 9999999999 at 1:18",
        200,
        "",
    ),
    // Variable positions are checked after validation (variables.rs), without locations.
    (
        "query($id: Int!) { device(id: $id) { name } }",
        "the same message, at 1:7 and 1:31",
        400,
        "Variable '$id' of type 'Int!' used in position expecting type 'ID'.",
    ),
    // async-graphql locates the argument, graphql-core the variable and the operation.
    (
        "{ devices(name: $x) { name } }",
        "the same message, at 1:17 and 1:1",
        400,
        "Variable '$x' is not defined.",
    ),
    // async-graphql locates the second argument only.
    (
        "{ devices(limit: 1, limit: 2) { name } }",
        "the same message, at 1:11 and 1:21",
        400,
        "There can be only one argument named 'limit'.",
    ),
    // A scalar where an input object is expected reaches the write path.
    (
        "mutation { tag_create(input: 1) { id } }",
        "Expected value of type 'TagInput!', found 1. at 1:30",
        200,
        "{'name': ['This field is required.']}",
    ),
];

/// Every document error of the table, over HTTP: status 400, no `data`, graphql-core's
/// messages and places.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn document_errors_are_graphql_cores() -> anyhow::Result<()> {
    let app = TestApp::start(Backend::Sqlite).await?;
    app.import(seed(2)).await?;
    let mut wrong = Vec::new();
    for (query, expected) in DOCUMENT_ERRORS {
        let (status, body, _) = app.graphql(query, Value::Null).await?;
        let want: Vec<Value> = expected
            .iter()
            .map(|(message, locations)| {
                let locations: Vec<Value> =
                    locations.iter().map(|(l, c)| json!({"line": l, "column": c})).collect();
                json!({"message": message, "locations": locations})
            })
            .collect();
        let got = (status, body.get("data").is_some(), &body["errors"]);
        if got != (400, false, &Value::Array(want.clone())) {
            wrong.push(format!("{query}\n  want: {}\n  got:  {status} {body}", Value::Array(want)));
        }
    }
    for (query, _, status, message) in NOT_YET_WORD_FOR_WORD {
        let (got, body, _) = app.graphql(query, Value::Null).await?;
        let first = body["errors"][0]["message"].as_str().unwrap_or_default();
        if (got, first) != (*status, *message) {
            wrong.push(format!("{query}: the known difference changed: {got} {body}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    Ok(())
}

/// Filter values a filter form refuses: HTTP 200, the field `null`, and one error for the
/// field with every refused filter in it, as Nautobot's `str(dict(filterset.errors))`.
async fn filter_errors_are_one_per_field(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    app.import(seed(2)).await?;
    let cases: &[(&str, &str)] = &[
        (
            "{ devices(role: \"X\", location: \"Y\") { name } }",
            "{'role': ['Select a valid choice. X is not one of the available choices.'], 'location': ['Select a valid choice. Y is not one of the available choices.']}",
        ),
        (
            "{ devices(role: [\"leaf\", \"nope\"]) { name } }",
            "{'role': ['Select a valid choice. nope is not one of the available choices.']}",
        ),
        ("{ devices(id: \"x\") { name } }", "{'id': ['Enter a valid UUID.']}"),
        ("{ devices(created: \"x\") { name } }", "{'created': ['Enter a valid date/time.']}"),
        (
            "{ devices(face: \"sideways\", id: \"x\") { name } }",
            "{'face': ['Select a valid choice. sideways is not one of the available choices.'], 'id': ['Enter a valid UUID.']}",
        ),
    ];
    for (query, message) in cases {
        let (status, body, _) = app.graphql(query, Value::Null).await?;
        assert_eq!(status, 200, "{query}: {body}");
        assert_eq!(body["data"], json!({"devices": null}), "{query}: {body}");
        let errors = body["errors"].as_array().cloned().unwrap_or_default();
        assert_eq!(errors.len(), 1, "{query}: {body}");
        assert_eq!(errors[0]["message"], *message, "{query}: {body}");
        assert_eq!(errors[0]["path"], json!(["devices"]), "{query}: {body}");
        assert_eq!(errors[0]["extensions"]["code"], "VALIDATION_FAILED", "{query}: {body}");
    }
    // The whole answer's shape, once.
    let (_, mut body, _) =
        app.graphql("{ devices(role: \"X\", location: \"Y\") { name } }", Value::Null).await?;
    body.as_object_mut().map(|b| b.remove("extensions"));
    insta::assert_snapshot!("filter_errors_in_one_error", serde_json::to_string_pretty(&body)?);
    Ok(())
}
backend_test!(filter_errors, filter_errors_are_one_per_field);
