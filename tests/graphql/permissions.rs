//! Groups and object permissions as stored data: the models of Nautobot's permission system
//! (`auth.group`, `users.objectpermission`, `users.user.groups`), loaded through the import
//! format and change-logged like every model, and kept out of exports with the accounts they
//! name. Enforcing them on reads and writes builds on these rows.

use super::*;

async fn permissions_are_stored_and_not_exported(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    app.import(json!({
        "auth.group": [{"name": "netops"}],
        "users.objectpermission": [{
            "name": "read devices at site-001",
            "actions": ["view"],
            "object_types": ["dcim.device", "dcim.rack"],
            "constraints": {"location__name": "site-001"},
            "groups": [{"name": "netops"}],
            "users": [{"username": "admin"}]
        }]
    }))
    .await?;
    // A permission names object types that exist, and users that exist.
    let bad_type = app
        .import(json!({"users.objectpermission": [{"name": "bad", "actions": ["view"],
            "object_types": ["dcim.nothing"]}]}))
        .await
        .expect_err("an unknown object type is refused");
    assert!(bad_type.to_string().contains("Unknown content type \"dcim.nothing\""), "{bad_type}");
    let bad_user = app
        .import(json!({"users.objectpermission": [{"name": "bad", "actions": ["view"],
            "object_types": ["dcim.device"], "users": [{"username": "nobody"}]}]}))
        .await
        .expect_err("an unknown user is refused");
    assert!(bad_user.to_string().contains("users"), "{bad_user}");
    // Constraints are resolved on every object type when written, in Nautobot's words.
    let bad_constraints = app
        .import(json!({"users.objectpermission": [{"name": "bad", "actions": ["view"],
            "object_types": ["dcim.device"], "constraints": {"nmae": "x"}}]}))
        .await
        .expect_err("a constraint on no field is refused");
    let text = bad_constraints.to_string();
    assert!(
        text.contains("Invalid filter for dcim.device: Cannot resolve keyword 'nmae'"),
        "{text}"
    );
    let bad_actions = app
        .import(json!({"users.objectpermission": [{"name": "bad", "actions": "view",
            "object_types": ["dcim.device"]}]}))
        .await
        .expect_err("actions must be a list");
    assert!(bad_actions.to_string().contains("Enter a list of actions"), "{bad_actions}");
    // A user written as data carries its password as a hash, never in clear.
    let no_password = app
        .import(json!({"users.user": [{"username": "ansible", "groups": [{"name": "netops"}]}]}))
        .await
        .expect_err("a user without a password is refused");
    assert!(no_password.to_string().contains("password: This field is required."), "{no_password}");
    let clear = app
        .import(json!({"users.user": [{"username": "ansible", "password": "hunter2"}]}))
        .await
        .expect_err("a password in clear is refused");
    assert!(clear.to_string().contains("Enter the password as an argon2 hash"), "{clear}");
    // Two objects, two change-log rows; nothing of the refused imports.
    let (status, body, _) = app
        .graphql(
            r#"{ object_changes(changed_object_type: ["auth.group", "users.objectpermission"]) { action object_repr } }"#,
            Value::Null,
        )
        .await?;
    assert_eq!(status, 200, "{body}");
    let mut changes: Vec<String> = body["data"]["object_changes"]
        .as_array()
        .map(|a| a.iter().map(|c| c["object_repr"].as_str().unwrap_or("?").to_owned()).collect())
        .unwrap_or_default();
    changes.sort();
    assert_eq!(changes, ["netops", "read devices at site-001"], "{body}");
    // Accounts, groups and permissions stay in their database.
    let exported = app.store.export().await?;
    for label in ["auth.group", "users.objectpermission", "users.user", "users.token"] {
        assert!(exported.get(label).is_none(), "{label} was exported");
    }
    Ok(())
}
backend_test!(permissions_stored, permissions_are_stored_and_not_exported);
