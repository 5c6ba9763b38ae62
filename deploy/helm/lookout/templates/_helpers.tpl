{{/* Name of the chart, or nameOverride. */}}
{{- define "lookout.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name: fullnameOverride, else the release name (with the chart's name unless it contains it). */}}
{{- define "lookout.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "lookout.selectorLabels" -}}
app.kubernetes.io/name: {{ include "lookout.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "lookout.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "lookout.selectorLabels" . }}
app.kubernetes.io/component: agent
app.kubernetes.io/part-of: lookout
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "lookout.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "lookout.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "lookout.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* HTTPS when the agent serves TLS (config.server.tls.cert_file), else HTTP. */}}
{{- define "lookout.scheme" -}}
{{- if dig "server" "tls" "cert_file" "" .Values.config -}}HTTPS{{- else -}}HTTP{{- end -}}
{{- end -}}

{{/* The endpoint list of a ServiceMonitor or PodMonitor; the argument is dict "root" $ "m" <its values>. */}}
{{- define "lookout.scrapeEndpoint" -}}
{{- $m := .m -}}
{{- $ep := dict "port" "http" "path" "/metrics" "scheme" (include "lookout.scheme" .root | lower) "interval" $m.interval "scrapeTimeout" $m.scrapeTimeout "honorLabels" true -}}
{{- $relabel := list (dict "sourceLabels" (list "__meta_kubernetes_pod_node_name") "targetLabel" "instance") -}}
{{- $_ := set $ep "relabelings" (concat $relabel $m.relabelings) -}}
{{- if $m.metricRelabelings -}}
{{- $_ := set $ep "metricRelabelings" $m.metricRelabelings -}}
{{- end -}}
{{- toYaml (list (mergeOverwrite $ep (deepCopy $m.endpointConfig))) -}}
{{- end -}}
