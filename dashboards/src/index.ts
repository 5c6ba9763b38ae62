/** The dashboards and alert rules as code; see dashboards/README.md. */
export { alertGroups, alertNames, DEFAULT_ALERT_CONFIG, LIMITS, type AlertConfig, type AlertRule, type RuleGroup } from './alerts.js';
export { REQUIREMENTS, type BuiltDashboard, type PanelMeta, type Requirement } from './lib.js';
export {
  DEFAULT_SUBSTITUTIONS,
  escapeRegExp,
  listQueries,
  panelsEmptyOnPlainDocker,
  substitute,
  type DashboardQuery,
  type EmptyPanel,
  type Substitutions,
} from './queries.js';
export { dashboards, renderAll, renderDashboard, renderRules, RULES_FILE } from './render.js';
