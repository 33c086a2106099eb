"""Grafana: dashboards as code, provisioning, deployment and panel checks."""
