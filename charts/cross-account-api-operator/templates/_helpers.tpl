{{/*
Chart name, overridable with nameOverride.
*/}}
{{- define "xapi.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: fullnameOverride, else <release>-<chart> (or <release> when it already contains the
chart name), at most 63 characters.
*/}}
{{- define "xapi.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
chart label value.
*/}}
{{- define "xapi.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Selector labels (stable across upgrades).
*/}}
{{- define "xapi.selectorLabels" -}}
app.kubernetes.io/name: {{ include "xapi.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Common labels.
*/}}
{{- define "xapi.labels" -}}
helm.sh/chart: {{ include "xapi.chart" . }}
{{ include "xapi.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/component: controller
app.kubernetes.io/part-of: cross-account-api-operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
ServiceAccount name.
*/}}
{{- define "xapi.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "xapi.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Port of metricsAddr ("0.0.0.0:8080", "[::]:8080" -> 8080).
*/}}
{{- define "xapi.metricsPort" -}}
{{- splitList ":" (toString .Values.metricsAddr) | last }}
{{- end }}

{{/*
Image reference.
*/}}
{{- define "xapi.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion | toString) }}
{{- end }}
