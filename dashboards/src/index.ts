/** The dashboards and alert rules as code; see dashboards/README.md. */
export { alertGroups, alertNames, DEFAULT_ALERT_CONFIG, LIMITS, type AlertConfig, type AlertRule, type RuleGroup } from './alerts.js';
export { DATASOURCES, REQUIREMENTS, type BuiltDashboard, type DatasourceKind, type InfluxQuery, type Language, type PanelMeta, type Requirement } from './lib.js';
export {
  DEFAULT_INFLUX_SUBSTITUTIONS,
  DEFAULT_LOGQL_SUBSTITUTIONS,
  DEFAULT_SUBSTITUTIONS,
  escapeRegExp,
  influxTimeFilter,
  listInfluxQL,
  listLogQL,
  listQueries,
  panelsEmptyOnPlainDocker,
  substitute,
  substituteInflux,
  substituteLogQL,
  type DashboardQuery,
  type EmptyPanel,
  type InfluxDashboardQuery,
  type InfluxSubstitutions,
  type LogQLQuery,
  type LogQLSubstitutions,
  type Substitutions,
} from './queries.js';
export { dashboards, renderAll, renderDashboard, renderRules, RULES_FILE } from './render.js';
