#!/usr/bin/env bash
# Runs Prometheus on :9090 against a running `dlwp serve`, with dlwp's alert rules (make monitor).
# Usage: monitoring/run_prometheus.sh [TARGET [DATA_DIR]]  (localhost:8501, dlwp-home/prometheus)
set -euo pipefail

target=${1:-localhost:8501}
data_dir=${2:-dlwp-home/prometheus}
monitoring=$(cd "$(dirname "$0")" && pwd)

mkdir -p "$data_dir"
# A copy of the config with the target, beside the data; the rules stay a link to the one
# rules file, so what runs is what promtool tests.
sed "s|localhost:8501|$target|" "$monitoring/prometheus/prometheus.yml" > "$data_dir/prometheus.yml"
ln -sfn "$monitoring/prometheus/alerts.yml" "$data_dir/alerts.yml"
promtool check config "$data_dir/prometheus.yml" >/dev/null

cat <<EOM
Prometheus: http://localhost:9090 (alerts: http://localhost:9090/alerts), scraping
  http://$target/monitoring/prometheus/metrics every 15 s; data in $data_dir (Ctrl-C stops it).
Grafana dashboards (Grafana is not installed by make): provisioning in
  $monitoring/grafana/provisioning, dashboards in $monitoring/grafana/dashboards. Either
  DLWP_GRAFANA_DASHBOARDS=$monitoring/grafana/dashboards grafana server \\
    --homepath /usr/share/grafana cfg:default.paths.provisioning=$monitoring/grafana/provisioning
  or
  docker run --rm --network host -e DLWP_GRAFANA_DASHBOARDS=/var/lib/grafana/dlwp-dashboards \\
    -v $monitoring/grafana/provisioning:/etc/grafana/provisioning:ro \\
    -v $monitoring/grafana/dashboards:/var/lib/grafana/dlwp-dashboards:ro grafana/grafana
  then open http://localhost:3000 (admin/admin), folder "dlwp": "dlwp serving", "dlwp drift".
EOM
exec prometheus --config.file="$data_dir/prometheus.yml" --storage.tsdb.path="$data_dir/tsdb" \
  --web.listen-address=:9090
