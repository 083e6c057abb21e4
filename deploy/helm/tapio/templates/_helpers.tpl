{{/* Names and labels shared by every template. The collector is <release>-collector: release "tapio" gives
     daemonset/tapio-collector. */}}
{{- define "tapio.collector" -}}{{ printf "%s-collector" .Release.Name | trunc 63 | trimSuffix "-" }}{{- end -}}

{{- define "tapio.selectorLabels" -}}
app.kubernetes.io/name: tapio
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: collector
{{- end -}}

{{- define "tapio.labels" -}}
{{ include "tapio.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "tapio.serviceAccountName" -}}
{{- if .Values.serviceAccount.name }}{{ .Values.serviceAccount.name }}{{ else }}{{ include "tapio.collector" . }}{{ end -}}
{{- end -}}

{{- define "tapio.spoolSecret" -}}
{{- if .Values.spool.existingSecret }}{{ .Values.spool.existingSecret }}{{ else }}{{ printf "%s-spool-key" (include "tapio.collector" .) }}{{ end -}}
{{- end -}}

{{/* The agent's config file: what the chart must set (where to listen, the spool, the sockets as mounted), with
     agent.config merged over it. */}}
{{- define "tapio.agentConfig" -}}
{{- $endpoints := list -}}
{{- range .Values.agent.runtimeSockets -}}
{{- $endpoints = append $endpoints (dict "kind" .kind "socket" (printf "/host%s" .path)) -}}
{{- end -}}
{{- $base := dict
  "observe" (dict "address" (printf "0.0.0.0:%d" (int .Values.agent.metricsPort)) "allowRemote" true "programRunStats" .Values.agent.programRunStats)
  "limits" (dict "budget" (dict "cpuPercent" .Values.agent.budget.cpuPercent "memoryMiB" (int .Values.agent.budget.memoryMiB)))
  "identity" (dict "runtimes" (dict "endpoints" $endpoints) "kubernetes" (dict "services" .Values.kubernetes.services))
-}}
{{- if .Values.spool.enabled -}}
{{- $_ := set $base "export" (dict "otlp" (dict "spool" (dict "dir" "/var/lib/tapio/spool" "keyFile" "/etc/tapio-spool-key/key" "maxBytes" (int64 .Values.spool.maxBytes)))) -}}
{{- end -}}
{{- toYaml (mustMergeOverwrite $base (deepCopy .Values.agent.config)) -}}
{{- end -}}
