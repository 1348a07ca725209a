//! Logs to stderr (text or JSON lines) and, when a collector is configured, traces exported
//! over OTLP/HTTP: a span per request (`request`, with its id) and per level read (`load_level`).

use anyhow::{Context, Result};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

use crate::config::LogFormat;

/// Installs the log (and trace) subscriber; the provider must be [`finish`]ed before exit so that
/// the last spans are sent.
pub(crate) fn init(
    format: LogFormat,
    otlp_endpoint: Option<&str>,
) -> Result<Option<SdkTracerProvider>> {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let logs = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let logs = match format {
        LogFormat::Json => logs.json().flatten_event(true).boxed(),
        LogFormat::Text => logs.boxed(),
    };
    let provider = match otlp_endpoint.map(str::trim).filter(|e| !e.is_empty()) {
        Some(base) => {
            // The collector's base URL, as OTEL_EXPORTER_OTLP_ENDPOINT is; traces go to /v1/traces.
            let url = if base.ends_with("/v1/traces") {
                base.to_owned()
            } else {
                format!("{}/v1/traces", base.trim_end_matches('/'))
            };
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_endpoint(url)
                .build()
                .context("the OTLP exporter")?;
            let resource =
                opentelemetry_sdk::Resource::builder().with_service_name("ferrobot").build();
            Some(
                SdkTracerProvider::builder()
                    .with_batch_exporter(exporter)
                    .with_resource(resource)
                    .build(),
            )
        }
        None => None,
    };
    let traces =
        provider.as_ref().map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer("ferrobot")));
    tracing_subscriber::registry().with(logs).with(traces).with(filter).init();
    Ok(provider)
}

/// Sends the spans not sent yet and stops the exporter.
pub(crate) async fn finish(provider: Option<SdkTracerProvider>) {
    let Some(provider) = provider else { return };
    let flushed = tokio::task::spawn_blocking(move || provider.shutdown()).await;
    if let Ok(Err(error)) = flushed {
        tracing::warn!(%error, "traces not flushed");
    }
}
