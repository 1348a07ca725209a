//! Persistence's planner and executor without HTTP: request trees built by hand, planned, read
//! on every backend, with their statement counts at two sizes.

use ferrobot_domain::request::{Keyset, Select, Selected, SelectedKind};
use ferrobot_domain::Catalogue;
use ferrobot_persistence::query::{Level, Plan, Read, Windowing};
use ferrobot_test_support::{seed, Backend, TestApp};

/// Emits one test per backend from one async body taking the backend.
macro_rules! backend_test {
    ($name:ident, $body:ident) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() -> anyhow::Result<()> {
                $body(Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() -> anyhow::Result<()> {
                $body(Backend::Postgres).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn mysql() -> anyhow::Result<()> {
                $body(Backend::MySql).await
            }
        }
    };
}

/// `{label} { field, relation { … } }` as a request tree, looked up in the catalogue.
fn column(catalogue: &Catalogue, label: &str, field: &str) -> Selected {
    let model = catalogue.by_label(label).expect(label);
    let (index, _) = model.field(field).expect(field);
    Selected { key: field.into(), kind: SelectedKind::Column(index) }
}

fn relation(catalogue: &Catalogue, label: &str, name: &str, child: Select) -> Selected {
    let model = catalogue.by_label(label).expect(label);
    let (index, _) = model.relation(name).expect(name);
    Selected {
        key: name.into(),
        kind: SelectedKind::Relation { relation: index, child: Box::new(child) },
    }
}

/// devices { name interfaces { name ip_addresses { address } } }
fn devices_tree(catalogue: &Catalogue) -> Select {
    let id = |label: &str| catalogue.by_label(label).expect(label).id;
    let mut addresses = Select::new(id("ipam.ipaddress"));
    let computed = catalogue.by_label("ipam.ipaddress").expect("model").computed.iter();
    let address = computed.enumerate().find(|(_, c)| c.name == "address").map(|(i, _)| i);
    addresses.fields.push(Selected {
        key: "address".into(),
        kind: SelectedKind::Computed(address.unwrap_or(0)),
    });
    let mut interfaces = Select::new(id("dcim.interface"));
    interfaces.fields.push(column(catalogue, "dcim.interface", "name"));
    interfaces.fields.push(relation(catalogue, "dcim.interface", "ip_addresses", addresses));
    let mut devices = Select::new(id("dcim.device"));
    devices.fields.push(column(catalogue, "dcim.device", "name"));
    devices.fields.push(relation(catalogue, "dcim.device", "interfaces", interfaces));
    devices
}

/// A plan as text: each level's model, columns and children.
fn outline(catalogue: &Catalogue, plan: &Plan, indent: usize, out: &mut String) {
    let columns: Vec<&str> = plan.columns.iter().map(|(c, _)| c.as_str()).collect();
    let pad = "  ".repeat(indent);
    out.push_str(&format!("{pad}{} {columns:?}\n", catalogue.model(plan.model).label));
    for (rel, child) in &plan.children {
        out.push_str(&format!("{pad}  via {}\n", rel.name));
        outline(catalogue, child, indent + 2, out);
    }
}

fn rows(level: &Level) -> usize {
    level.rows.len()
}

async fn a_tree_is_planned_and_read_level_by_level(backend: Backend) -> anyhow::Result<()> {
    let mut counts = Vec::new();
    for n in [20, 1100] {
        let app = TestApp::start(backend).await?;
        app.import(seed(n)).await?;
        let catalogue = app.store.catalogue().clone();
        let plan = Plan::new(&catalogue, &devices_tree(&catalogue));
        if n == 20 {
            let mut text = String::new();
            outline(&catalogue, &plan, 0, &mut text);
            insta::assert_snapshot!("devices_interfaces_addresses", text);
        }
        let store = app.store.counted();
        let level = store.execute(&plan, &superuser()).await?;
        assert_eq!(rows(&level), n);
        assert_eq!(rows(&level.children[0]), 3 * n);
        assert_eq!(rows(&level.children[0].children[0]), n);
        counts.push(store.statements());
    }
    // One statement a level, whatever the number of rows.
    assert_eq!(counts, vec![3, 3]);
    Ok(())
}
backend_test!(planned_tree, a_tree_is_planned_and_read_level_by_level);

async fn a_cursor_page_reads_its_page_and_one_more(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    app.import(seed(30)).await?;
    let catalogue = app.store.catalogue().clone();
    let mut tree = devices_tree(&catalogue);
    tree.page.keyset = Some(Keyset { first: 10, after: None });
    let plan = Plan::new(&catalogue, &tree);
    // The page ordering's columns are read for the end cursor: `_name`, then the id.
    let cursor: Vec<&str> = plan.cursor.iter().map(|&c| plan.columns[c].0.as_str()).collect();
    assert_eq!(cursor, ["_name", "id"]);
    let store = app.store.counted();
    let level = store.execute(&plan, &superuser()).await?;
    assert_eq!(rows(&level), 11);
    assert_eq!(rows(&level.children[0]), 33);
    // The next page starts after the tenth row.
    let tenth = level.own(9);
    let after = plan
        .cursor
        .iter()
        .map(|&c| match &tenth[c] {
            ferrobot_persistence::Cell::Text(t) => {
                ferrobot_domain::request::CursorValue::Text(t.to_string())
            }
            ferrobot_persistence::Cell::Uuid(u) => {
                ferrobot_domain::request::CursorValue::Text(u.to_string())
            }
            _ => ferrobot_domain::request::CursorValue::Null,
        })
        .collect();
    tree.page.keyset = Some(Keyset { first: 10, after: Some(after) });
    let next = store.execute(&Plan::new(&catalogue, &tree), &superuser()).await?;
    let name = |level: &Level, row: usize| format!("{:?}", level.own(row)[1]);
    assert_eq!(name(&next, 0), name(&level, 10));
    assert_eq!(store.statements(), 6);
    Ok(())
}
backend_test!(keyset_page, a_cursor_page_reads_its_page_and_one_more);

/// The rows of every window of a list read in windows, and the windows' count.
async fn read_windows(
    store: &ferrobot_persistence::Store,
    plan: std::sync::Arc<Plan>,
    windowing: Windowing,
) -> anyhow::Result<(Vec<Level>, usize)> {
    let mut windows = match store.execute_windows(plan, windowing, &superuser()).await? {
        Read::Windows(windows) => windows,
        Read::Whole(level) => return Ok((vec![*level], 1)),
    };
    let mut read = Vec::new();
    while let Some(window) = windows.next().await {
        read.push(window?);
    }
    let count = read.len();
    Ok((read, count))
}

/// Every row of a level (its own cells), in order.
fn cells(level: &Level) -> Vec<Vec<ferrobot_persistence::Cell>> {
    (0..level.rows.len()).map(|r| level.own(r).to_vec()).collect()
}

async fn a_list_read_in_windows_runs_a_statement_a_level_and_window(
    backend: Backend,
) -> anyhow::Result<()> {
    for n in [20, 40] {
        let app = TestApp::start(backend).await?;
        app.import(seed(n)).await?;
        let catalogue = app.store.catalogue().clone();
        let plan = std::sync::Arc::new(Plan::new(&catalogue, &devices_tree(&catalogue)));
        let whole = app.store.execute(&plan, &superuser()).await?;
        // Windows of 8 devices, every level read per window: the root, then interfaces and
        // addresses once a window.
        let store = app.store.counted();
        let every = Windowing { rows: 8, whole_per_row: 0 };
        let (windows, count) = read_windows(&store, plan.clone(), every).await?;
        assert_eq!(count, n.div_ceil(8));
        assert_eq!(store.statements(), 1 + 2 * count as u64, "{n} devices");
        // The windows hold the rows of the whole read, in order, and the same rows under them.
        let rows: Vec<_> = windows.iter().flat_map(cells).collect();
        assert_eq!(rows, cells(&whole));
        let interfaces: usize = windows.iter().map(|w| w.children[0].rows.len()).sum();
        let addresses: usize = windows.iter().map(|w| w.children[0].children[0].rows.len()).sum();
        assert_eq!((interfaces, addresses), (3 * n, n));
        // Levels whose table is small beside the root list (3 interfaces and an address per
        // device, at most 4 rows per device) are read once, whatever the windows: as many
        // statements as a whole read, and the windows share those levels.
        let store = app.store.counted();
        let small = Windowing { rows: 8, whole_per_row: 4 };
        let (windows, count) = read_windows(&store, plan.clone(), small).await?;
        assert_eq!(count, n.div_ceil(8));
        assert_eq!(store.statements(), 3, "{n} devices");
        assert_eq!(windows.iter().flat_map(cells).collect::<Vec<_>>(), cells(&whole));
        // A list no longer than a window is read whole, with the statements it always took.
        let store = app.store.counted();
        let (_, count) =
            read_windows(&store, plan, Windowing { rows: n, whole_per_row: 0 }).await?;
        assert_eq!((count, store.statements()), (1, 3));
    }
    Ok(())
}
backend_test!(windows, a_list_read_in_windows_runs_a_statement_a_level_and_window);

/// Every row: the planner's statements, without permissions.
fn superuser() -> std::sync::Arc<ferrobot_domain::permission::Permissions> {
    std::sync::Arc::new(ferrobot_domain::permission::Permissions::superuser(uuid::Uuid::nil()))
}
