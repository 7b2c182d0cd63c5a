// Command dashboard writes the operator's Grafana dashboard (JSON) to stdout, built with
// Grafana's foundation SDK so that it follows Grafana's own dashboard schema. The chart
// ships its output as charts/iot-product-operator/files/dashboard.json (a test regenerates
// it and fails when the two differ; another checks every query against a live scrape).
//
//	go run ./cmd/dashboard > ../../charts/iot-product-operator/files/dashboard.json
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/grafana/grafana-foundation-sdk/go/bargauge"
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

var datasource = dashboard.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${datasource}")}

func query(expr, legend string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().Expr(expr).LegendFormat(legend)
}

func series(title, description, unit string, targets ...*prometheus.DataqueryBuilder) *timeseries.PanelBuilder {
	panel := timeseries.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(datasource).
		Unit(unit).
		Span(12).
		Height(8)
	for _, target := range targets {
		panel = panel.WithTarget(target)
	}
	return panel
}

func single(title, description string, span uint32, targets ...*prometheus.DataqueryBuilder) *stat.PanelBuilder {
	panel := stat.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(datasource).
		Span(span).
		Height(5)
	for _, target := range targets {
		panel = panel.WithTarget(target.Instant())
	}
	return panel
}

func build() (dashboard.Dashboard, error) {
	account := `account=~"$account"`
	return dashboard.NewDashboardBuilder("IoT Product Operator").
		Uid("iot-product-operator").
		Description("Platform quotas, reconciles, products and distributions of iot-product-operator. Every query uses metrics the operator exports (docs/metrics.md).").
		Tags([]string{"iot-product-operator", "kubernetes-operator"}).
		Refresh("30s").
		Time("now-3h", "now").
		Timezone(common.TimeZoneBrowser).
		WithVariable(dashboard.NewDatasourceVariableBuilder("datasource").Label("Data source").Type("prometheus")).
		WithVariable(dashboard.NewQueryVariableBuilder("account").
			Label("PlatformAccount").
			Datasource(common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${datasource}")}).
			Query(dashboard.StringOrMap{String: cog.ToPtr("label_values(iotop_account_ready, account)")}).
			Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
			Multi(true).
			IncludeAll(true).
			AllValue(".*")).
		WithRow(dashboard.NewRowBuilder("Overview")).
		WithPanel(single("Products", "IotProducts by health: Ready (the platform matches the spec), Reconciling (getting there on its own), Stalled (needs a person).", 8,
			query(`sum by (status) (iotop_resources{kind="IotProduct"})`, "{{status}}"))).
		WithPanel(single("Accounts ready", "1 when the platform accepted the account's credentials at the last check.", 8,
			query(`iotop_account_ready{`+account+`}`, "{{account}}"))).
		WithPanel(single("Replicas and leader", "Replicas exporting metrics, and how many lead (one with leader election; each replica without it).", 8,
			query(`count(iotop_leader)`, "replicas"),
			query(`sum(iotop_leader)`, "leading"))).
		WithRow(dashboard.NewRowBuilder("Platform quota")).
		WithPanel(series("Quota in use by account and action", "This operator's calls per second as a share of the platform's documented QPS for the action (the quota is the account's: other users of the account count too). The limiter keeps it under the configured share (iotop_platform_quota_share).", "percentunit",
			query(`sum by (account, action) (rate(iotop_platform_calls_total{`+account+`}[$__rate_interval])) / on (action) group_left max by (action) (iotop_platform_quota_per_second)`, "{{account}} {{action}}"),
			query(`max(iotop_platform_quota_share)`, "configured share"))).
		WithPanel(series("Rate-limiter wait (p90)", "How long calls wait for the per-account limiter: above zero for long when more work is due than the quota allows.", "s",
			query(`histogram_quantile(0.9, sum by (account, action, le) (rate(iotop_ratelimit_wait_seconds_bucket{`+account+`}[$__rate_interval])))`, "{{account}} {{action}}"))).
		WithPanel(series("Throttled calls", "Calls the platform refused as throttled (the quota is shared with other users of the account).", "reqps",
			query(`sum by (account, action) (rate(iotop_platform_throttled_total{`+account+`}[$__rate_interval]))`, "{{account}} {{action}}"))).
		WithPanel(series("Platform errors by code", "Failed call attempts by the platform's error code (known codes; anything else counts as Other).", "reqps",
			query(`sum by (account, code) (rate(iotop_platform_calls_total{`+account+`, code!="Success"}[$__rate_interval]))`, "{{account}} {{code}}"))).
		WithRow(dashboard.NewRowBuilder("Reconciles")).
		WithPanel(series("Reconciles by kind and result", "Reconciles per second; result is Success or the error's category.", "ops",
			query(`sum by (kind, result) (rate(iotop_reconciles_total[$__rate_interval]))`, "{{kind}} {{result}}"))).
		WithPanel(series("Reconcile errors", "Share of reconciles that ended in an error, by kind.", "percentunit",
			query(`sum by (kind) (rate(iotop_reconciles_total{result!="Success"}[$__rate_interval])) / sum by (kind) (rate(iotop_reconciles_total[$__rate_interval]))`, "{{kind}}"))).
		WithPanel(series("Reconcile latency", "p50 and p99 duration of reconciles, by kind.", "s",
			query(`histogram_quantile(0.5, sum by (kind, le) (rate(iotop_reconcile_duration_seconds_bucket[$__rate_interval])))`, "p50 {{kind}}"),
			query(`histogram_quantile(0.99, sum by (kind, le) (rate(iotop_reconcile_duration_seconds_bucket[$__rate_interval])))`, "p99 {{kind}}"))).
		WithPanel(series("Reconciles waiting", "IotProduct reconciles waiting for a slot of --concurrency.", "short",
			query(`sum(iotop_reconciles_waiting)`, "waiting"))).
		WithRow(dashboard.NewRowBuilder("Products and distributions")).
		WithPanel(series("Resources by health", "Every kind by Ready, Reconciling and Stalled.", "short",
			query(`sum by (kind, status) (iotop_resources)`, "{{kind}} {{status}}"))).
		WithPanel(bargauge.NewPanelBuilder().
			Title("Top reasons not Ready").
			Description("The reasons of resources that are Reconciling or Stalled (docs/conditions.md says what each means and the way out).").
			Datasource(datasource).
			Span(12).
			Height(8).
			WithTarget(query(`topk(10, sum by (kind, status, reason) (iotop_resources{status!="Ready"}))`, "{{kind}} {{status}} {{reason}}").Instant())).
		WithPanel(series("Distributions by state", "ProductDistributions by job state.", "short",
			query(`sum by (state) (iotop_distributions)`, "{{state}}"))).
		WithPanel(series("Distribution task slots", "Distribution tasks held by this cluster's ProductDistributions, against the platform's limit per account.", "short",
			query(`sum by (account) (iotop_distribution_tasks_held{`+account+`})`, "{{account}} held"),
			query(`max(iotop_distribution_task_limit)`, "limit per account"))).
		WithRow(dashboard.NewRowBuilder("Devices")).
		WithPanel(series("Devices by account", "Devices of the account's products, by state (total, activated, online), as the operator last counted them (docs/devices.md).", "short",
			query(`max by (account, state) (iotop_devices{`+account+`})`, "{{account}} {{state}}"))).
		WithPanel(series("Waiting for approval", "Resources whose change or deletion would reach activated devices and waits for a person's approval of its generation (ImpactNeedsApproval, DeleteNeedsApproval).", "short",
			query(`max by (kind, reason) (iotop_resources{reason=~"ImpactNeedsApproval|DeleteNeedsApproval"})`, "{{kind}} {{reason}}"))).
		WithRow(dashboard.NewRowBuilder("Consumer groups")).
		WithPanel(series("Consumer group backlog", "Messages waiting in each IotConsumerGroup (QueryConsumerGroupStatus), as last read: a backlog that grows means the backend's AMQP clients are not keeping up (docs/product-parts.md).", "short",
			query(`max by (namespace, name) (iotop_consumer_group_backlog)`, "{{namespace}}/{{name}}"))).
		WithPanel(series("Consumer group clients", "AMQP clients connected to each IotConsumerGroup: none means nobody receives the subscription's messages.", "short",
			query(`max by (namespace, name) (iotop_consumer_group_clients)`, "{{namespace}}/{{name}}"))).
		Build()
}

func main() {
	built, err := build()
	if err != nil {
		fmt.Fprintln(os.Stderr, "dashboard:", err)
		os.Exit(1)
	}
	out, err := json.MarshalIndent(built, "", "  ")
	if err != nil {
		fmt.Fprintln(os.Stderr, "dashboard:", err)
		os.Exit(1)
	}
	fmt.Println(string(out))
}
