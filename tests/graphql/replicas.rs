//! Several servers on one database, as replicas behind a load balancer run.

use super::*;

/// Replicas started together on an empty database: one migrates, the others wait for it and
/// find nothing left to do (on PostgreSQL the second used to die on a duplicate catalog row).
async fn replicas_migrate_in_turn(backend: Backend) -> anyhow::Result<()> {
    let db = ferrobot_test_support::TestDb::new(backend).await?;
    let catalogue = std::sync::Arc::new(ferrobot_domain::Catalogue::core()?);
    let mut stores = Vec::new();
    for _ in 0..2 {
        stores.push(ferrobot_persistence::Store::connect(&db.url, catalogue.clone()).await?);
    }
    let runs = stores.iter().map(ferrobot_migrations::migrate);
    let applied = futures_util::future::join_all(runs).await;
    let mut counts = Vec::new();
    for outcome in applied {
        counts.push(outcome.map_err(|e| anyhow::anyhow!("{e}"))?.len());
    }
    counts.sort_unstable();
    // One replica applied everything, the others nothing.
    assert_eq!(counts, vec![0, ferrobot_migrations::MIGRATIONS.len()]);
    for store in stores {
        assert!(ferrobot_migrations::migrate(&store)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .is_empty());
        store.close().await;
    }
    Ok(())
}
backend_test!(migrations_in_turn, replicas_migrate_in_turn);

/// Clients spread over two replicas: what one writes, the other reads, and writes through both
/// at once keep the change log's sequence whole.
async fn replicas_share_one_database(backend: Backend) -> anyhow::Result<()> {
    let app = TestApp::start(backend).await?;
    app.import(seed(2)).await?;
    let other = app.start_replica().await?;
    let bases = [app.base.clone(), other.base.clone()];
    let send = |base: &str, query: String| {
        let request = app
            .client()
            .post(format!("{base}/api/graphql/"))
            .header("Authorization", format!("Token {}", app.token))
            .json(&json!({ "query": query }));
        async move {
            let response = request.send().await?;
            let status = response.status().as_u16();
            anyhow::Ok((status, response.json::<Value>().await?))
        }
    };
    let writes = (0..40).map(|i| {
        send(
            &bases[i % 2],
            format!("mutation {{ tag_create(input: {{name: \"r-{i}\"}}) {{ name }} }}"),
        )
    });
    for outcome in futures_util::future::join_all(writes).await {
        let (status, body) = outcome?;
        assert_eq!(status, 200, "{body}");
        assert!(body.get("errors").is_none(), "{body}");
    }
    for base in &bases {
        let (status, body) = send(base, "{ tags(name__isw: \"r-\") { name } }".into()).await?;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"]["tags"].as_array().map(Vec::len), Some(40), "{base}: {body}");
    }
    let (_, body) = send(
        &bases[1],
        "{ object_changes(changed_object_type: \"extras.tag\") { sequence } }".into(),
    )
    .await?;
    let mut sequences: Vec<i64> = body["data"]["object_changes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["sequence"].as_i64())
        .collect();
    sequences.sort_unstable();
    let tags_logged = sequences.len();
    assert!(tags_logged >= 40, "{body}");
    sequences.dedup();
    assert_eq!(sequences.len(), tags_logged, "duplicate sequence numbers");
    Ok(())
}
backend_test!(two_replicas, replicas_share_one_database);
