"""Grafana stage: the alert rules, as code, for file provisioning and for the provisioning API.

Each rule's queries (the ClickHouse query, its reduction, the threshold) are built with the SDK's
alerting and expression builders; the rule around them is written here, in the two shapes Grafana
reads (the SDK models only the API's rule, not the file-provisioning one).

Three rules watch the pipeline and the experience: a friction spike relative to the previous
period, consumer lag above a threshold, and the dead-letter rate; a fourth, built from the journey
map, fires on each new incident (the Incidents dashboard's SQL, one alert instance per incident). Alert queries run in Grafana's
backend only, so they use the plugin's macros and never dashboard variables or
`$__conditionalAll` (those are browser-side). Each query returns one row with one numeric
column, `value`; a threshold expression on it is the condition. The incident rule returns one row
per ongoing incident (its touchpoint, family, what and who become the alert's labels, its score the
value) and none when all is normal, which Grafana reads as OK.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from grafana_foundation_sdk.builders import alerting, expr
from grafana_foundation_sdk.models import alerting as alerting_models
from grafana_foundation_sdk.models import dashboard as models

from clickhouse.analyses.judge_sql import BASELINE_PERIODS, PERIOD_S
from grafana.boards.common import INGEST_STAGES
from grafana.boards.incidents import UID as INCIDENTS_UID
from grafana.boards.incidents import incidents_sql
from grafana.model import DATASOURCE_UID, Format, Target, plain
from schemas.journeymap import JourneyMap

FOLDER_UID = "journeys"
FOLDER_TITLE = "Journeys"
GROUP = "journeys"
GROUP_INTERVAL = "1m"
GROUP_INTERVAL_S = 60
EXPRESSION_UID = "__expr__"
ALERT_SAMPLING = (1000, 43200)  # intervalMs, maxDataPoints of the alert query

FRICTION_SPIKE_WINDOW_S = 3600
FRICTION_SPIKE_RATIO = 2.0  # friction in the last hour at least twice the hour before
FRICTION_SPIKE_MIN_COUNT = 10  # ignore spikes on tiny volumes
LAG_WINDOW_S = 300
LAG_MAX_MESSAGES = 10_000
DEAD_LETTER_WINDOW_S = 600
DEAD_LETTER_MAX_PCT = 1.0
INCIDENT_PERIOD = "week"
# The range holds the baseline and the two newest periods: the one going on and the one just ended.
INCIDENT_RANGE_S = (BASELINE_PERIODS + 2) * PERIOD_S[INCIDENT_PERIOD]


@dataclass(frozen=True)
class AlertRule:
    """One rule: a ClickHouse query returning `value`, and the threshold it must not pass."""

    uid: str
    title: str
    sql: str
    range_s: int
    threshold: float
    summary: str
    severity: str = "warning"
    pending: str = "5m"
    dashboard_uid: str = ""
    panel_id: int = 0
    per_row: bool = False  # one alert instance per row (string columns are its labels), none when empty

    def data(self) -> list[dict[str, Any]]:
        """The query (A), its reduction (B) and the threshold condition (C)."""
        source = models.DataSourceRef(type_val=EXPRESSION_UID, uid=EXPRESSION_UID)
        query = (alerting.Query("A").datasource_uid(DATASOURCE_UID)
                 .relative_time_range(alerting_models.RelativeTimeRange(from_val=self.range_s, to=0))
                 .model(Target(self.sql, Format.TABLE, "A", ALERT_SAMPLING)))
        reduce = expr.TypeReduce().ref_id("B").expression("A").reducer("last").datasource(source)
        above = expr.ExprTypeThresholdConditionsEvaluator().params([self.threshold]).type("gt")
        condition = (expr.TypeThreshold().ref_id("C").expression("B").datasource(source)
                     .conditions([expr.ExprTypeThresholdConditions().evaluator(above)]))
        return [plain(query.build()),
                plain(alerting.Query("B").datasource_uid(EXPRESSION_UID).model(reduce).build()),
                plain(alerting.Query("C").datasource_uid(EXPRESSION_UID).model(condition).build())]

    def provisioned(self) -> dict[str, Any]:
        """The rule in Grafana's file-provisioning format."""
        rule: dict[str, Any] = {
            "uid": self.uid, "title": self.title, "condition": "C", "data": self.data(),
            "noDataState": "OK", "execErrState": "Error", "for": self.pending,
            "annotations": {"summary": self.summary}, "labels": {"severity": self.severity, "team": "journeys"},
        }
        if self.dashboard_uid:
            rule |= {"dashboardUid": self.dashboard_uid, "panelId": self.panel_id}
        return rule

    def api_payload(self) -> dict[str, Any]:
        """The rule for the provisioning HTTP API, which links dashboards through annotations."""
        rule = {k: v for k, v in self.provisioned().items() if k not in ("dashboardUid", "panelId")}
        if self.dashboard_uid:
            rule["annotations"] = {**rule["annotations"], "__dashboardUid__": self.dashboard_uid,
                                   "__panelId__": str(self.panel_id)}
        return {**rule, "folderUID": FOLDER_UID, "ruleGroup": GROUP, "orgID": 1}



FRICTION_SPIKE = AlertRule(
    "journeys-friction-spike", "Friction spike",
    "SELECT if(countIf(detected_at >= $__toTime - INTERVAL 1 HOUR) >= "
    f"{FRICTION_SPIKE_MIN_COUNT},\n"
    "  countIf(detected_at >= $__toTime - INTERVAL 1 HOUR) / greatest(countIf(detected_at < $__toTime - INTERVAL 1 HOUR), 1),\n"
    "  0) AS value\n"
    "FROM friction FINAL\nWHERE retracted = 0 AND $__timeFilter(detected_at)",
    2 * FRICTION_SPIKE_WINDOW_S, FRICTION_SPIKE_RATIO,
    f"Friction in the last hour is more than {FRICTION_SPIKE_RATIO:g}x the hour before "
    f"(at least {FRICTION_SPIKE_MIN_COUNT} pain points).", dashboard_uid="journeys-friction", panel_id=1)

CONSUMER_LAG = AlertRule(
    "journeys-consumer-lag", "Consumer lag",
    "SELECT max(lag) AS value\nFROM pipeline_health FINAL\n"
    "WHERE stage IN ('worker', 'sink') AND $__timeFilter(minute)",
    LAG_WINDOW_S, LAG_MAX_MESSAGES,
    f"A consumer is more than {LAG_MAX_MESSAGES} messages behind.", severity="critical",
    dashboard_uid="journeys-health", panel_id=2)

DEAD_LETTER_RATE = AlertRule(
    "journeys-dead-letter-rate", "Dead-letter rate",
    "SELECT round(100 * (SELECT count() FROM dead_letters FINAL WHERE $__timeFilter(rejected_at))\n"
    f"  / greatest((SELECT sum(events) FROM pipeline_health FINAL WHERE stage IN {INGEST_STAGES}"
    " AND $__timeFilter(minute)), 1), 3) AS value",
    DEAD_LETTER_WINDOW_S, DEAD_LETTER_MAX_PCT,
    f"More than {DEAD_LETTER_MAX_PCT:g}% of incoming events were dead-lettered in the last "
    f"{DEAD_LETTER_WINDOW_S // 60} minutes.", dashboard_uid="journeys-health", panel_id=3)

ALERT_RULES = (FRICTION_SPIKE, CONSUMER_LAG, DEAD_LETTER_RATE)


def new_incident_rule(journey_map: JourneyMap) -> AlertRule:
    """Fires for each incident still going on: flagged in the current or the last complete period."""
    step = PERIOD_S[INCIDENT_PERIOD]
    sql = (f"SELECT touchpoint, family, what, who, score AS value\n"
           f"FROM ({incidents_sql(journey_map, INCIDENT_PERIOD)})\n"
           f"WHERE last_period > $__toTime - toIntervalSecond({2 * step})\nORDER BY touchpoint, family, what, who")
    return AlertRule("journeys-new-incident", "New incident", sql, INCIDENT_RANGE_S, 0,
                     "{{ $labels.touchpoint }}: {{ $labels.what }} for {{ $labels.who }} departs from its baseline "
                     "(score {{ $values.B.Value }}); see the Incidents dashboard.", pending="0s",
                     dashboard_uid=INCIDENTS_UID, panel_id=1, per_row=True)


def alert_rules(journey_map: JourneyMap) -> tuple[AlertRule, ...]:
    """Every rule: the pipeline's and the experience's, and the one built from the map."""
    return (*ALERT_RULES, new_incident_rule(journey_map))


def rule_group_payload(rules: tuple[AlertRule, ...] = ALERT_RULES) -> dict[str, Any]:
    """The whole rule group for PUT /api/v1/provisioning/folder/<folder>/rule-groups/<group>:
    one call creates missing rules and updates the others, by uid."""
    return {"title": GROUP, "folderUid": FOLDER_UID, "interval": GROUP_INTERVAL_S,
            "rules": [rule.api_payload() for rule in rules]}


def provisioning_document(rules: tuple[AlertRule, ...] = ALERT_RULES) -> dict[str, Any]:
    """The file grafana/provisioning/alerting/journeys.yaml."""
    group = {"orgId": 1, "name": GROUP, "folder": FOLDER_TITLE, "interval": GROUP_INTERVAL,
             "rules": [rule.provisioned() for rule in rules]}
    return {"apiVersion": 1, "groups": [group]}
